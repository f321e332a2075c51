// Chunk "urlpattern": URLPattern from urlpattern-polyfill (the implementation the URLPattern
// standard's authors maintain), on the guest's URL.
import { provide } from '../shared.js'
import { markPlatform } from '../util.js'
import { URLPattern } from 'urlpattern-polyfill/urlpattern'

markPlatform(URLPattern.prototype)
provide('urlpattern', { URLPattern })
