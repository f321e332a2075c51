// URL on the host's WHATWG parser (native.urlParse / native.urlSet), URLSearchParams in pure JS.
import { native } from './shared.js'
import { internal, tag, illegal, isObject, inspectSymbol, concatBytes, enumerableMembers } from './util.js'
import { usvString, pairsOrRecord, pairIterable } from './webidl.js'
import { utf8Encode, utf8Decode } from './utf8.js'

const kParts = internal('url')
const kParams = internal('url searchParams')
const kList = internal('params list')
const kOwner = internal('params url')

const usv = usvString
const entries = () => URLSearchParams.prototype.entries

function parse(input, base) {
  const json = native.urlParse(usv(input), base === undefined ? undefined : usv(base))
  return json === null ? null : JSON.parse(json)
}

function parts(url) {
  const p = url[kParts]
  if (!p) throw illegal()
  return p
}

function setPart(url, part, value) {
  const p = parts(url)
  const next = JSON.parse(native.urlSet(p.href, part, usv(value)))
  url[kParts] = next
  const params = url[kParams]
  if (params && (part === 'href' || next.search !== p.search)) params[kList] = parseForm(next.search.slice(1))
}

export class URL {
  constructor(url, base) {
    if (arguments.length === 0)
      throw new TypeError("Failed to construct 'URL': 1 argument required, but only 0 present.")
    const p = parse(url, base)
    if (!p) throw new TypeError(`Invalid URL: ${String(url)}`)
    this[kParts] = p
    this[kParams] = null
  }

  static canParse(url, base) {
    return parse(url, base) !== null
  }

  static parse(url, base) {
    const p = parse(url, base)
    if (!p) return null
    const u = Object.create(URL.prototype)
    u[kParts] = p
    u[kParams] = null
    return u
  }

  get href() {
    return parts(this).href
  }
  set href(v) {
    setPart(this, 'href', v)
  }
  get origin() {
    return parts(this).origin
  }
  get protocol() {
    return parts(this).protocol
  }
  set protocol(v) {
    setPart(this, 'protocol', v)
  }
  get username() {
    return parts(this).username
  }
  set username(v) {
    setPart(this, 'username', v)
  }
  get password() {
    return parts(this).password
  }
  set password(v) {
    setPart(this, 'password', v)
  }
  get host() {
    return parts(this).host
  }
  set host(v) {
    setPart(this, 'host', v)
  }
  get hostname() {
    return parts(this).hostname
  }
  set hostname(v) {
    setPart(this, 'hostname', v)
  }
  get port() {
    return parts(this).port
  }
  set port(v) {
    setPart(this, 'port', v)
  }
  get pathname() {
    return parts(this).pathname
  }
  set pathname(v) {
    setPart(this, 'pathname', v)
  }
  get search() {
    return parts(this).search
  }
  set search(v) {
    setPart(this, 'search', v)
  }
  get hash() {
    return parts(this).hash
  }
  set hash(v) {
    setPart(this, 'hash', v)
  }

  get searchParams() {
    let params = this[kParams]
    if (!params) {
      params = new URLSearchParams(parts(this).search)
      params[kOwner] = this
      this[kParams] = params
    }
    return params
  }

  toString() {
    return parts(this).href
  }
  toJSON() {
    return parts(this).href
  }

  [inspectSymbol](depth, options, inspect) {
    const p = parts(this)
    return `URL ${inspect({ ...p, searchParams: this.searchParams })}`
  }
}
tag(URL, 'URL')

// ---- application/x-www-form-urlencoded ---------------------------------------------------

function formEncode(s) {
  if (/^[A-Za-z0-9*\-._]*$/.test(s)) return s
  // encodeURIComponent also leaves !'()~ alone; the form serializer encodes them.
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

function percentDecode(s) {
  try {
    return decodeURIComponent(s)
  } catch {
    // Malformed escapes stay literal and invalid UTF-8 becomes U+FFFD: decode byte-wise.
    const chunks = []
    let total = 0
    let last = 0
    const push = (b) => {
      chunks.push(b)
      total += b.length
    }
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) === 37 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
        if (i > last) push(utf8Encode(s.slice(last, i)))
        push(new Uint8Array([parseInt(s.slice(i + 1, i + 3), 16)]))
        last = i + 3
        i += 2
      }
    }
    if (last < s.length) push(utf8Encode(s.slice(last)))
    return utf8Decode(concatBytes(chunks, total))
  }
}

function formDecode(s) {
  if (s.includes('+')) s = s.replace(/\+/g, ' ')
  return s.includes('%') ? percentDecode(s) : s
}

export function parseForm(query) {
  const list = []
  if (!query) return list
  for (const seq of query.split('&')) {
    if (!seq) continue
    const eq = seq.indexOf('=')
    list.push(eq === -1 ? [formDecode(seq), ''] : [formDecode(seq.slice(0, eq)), formDecode(seq.slice(eq + 1))])
  }
  return list
}

function serializeForm(list) {
  return list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&')
}

function need(count, n, method) {
  if (count < n) throw new TypeError(`URLSearchParams.${method} requires ${n} argument${n > 1 ? 's' : ''}`)
}

function list(params) {
  const l = params[kList]
  if (!l) throw illegal()
  return l
}

/** The "update steps": the linked URL's query follows the list. */
function update(params) {
  const url = params[kOwner]
  if (!url) return
  const query = serializeForm(params[kList])
  url[kParts] = JSON.parse(native.urlSet(url[kParts].href, 'search', query))
}

export class URLSearchParams {
  constructor(init = undefined) {
    let l = []
    if (isObject(init)) {
      // (sequence<sequence<USVString>> or record<USVString, USVString>): a params object is an
      // iterable of pairs like any other, so its own @@iterator, if replaced, is honoured.
      const method = init[Symbol.iterator]
      if (method === entries() && Object.prototype.hasOwnProperty.call(init, kList))
        l = list(init).map(([k, v]) => [k, v])
      else l = pairsOrRecord(init, method, usvString, 'URLSearchParams init')
    } else if (init !== undefined) {
      let s = usvString(init)
      if (s.charCodeAt(0) === 63) s = s.slice(1) // '?'
      l = parseForm(s)
    }
    this[kList] = l
    this[kOwner] = null
  }

  get size() {
    return list(this).length
  }

  append(name, value) {
    need(arguments.length, 2, 'append')
    list(this).push([usv(name), usv(value)])
    update(this)
  }

  delete(name, value) {
    need(arguments.length, 1, 'delete')
    const n = usv(name)
    const v = value === undefined ? undefined : usv(value)
    this[kList] = list(this).filter(([k, val]) => k !== n || (v !== undefined && val !== v))
    update(this)
  }

  get(name) {
    need(arguments.length, 1, 'get')
    const n = usv(name)
    const found = list(this).find(([k]) => k === n)
    return found ? found[1] : null
  }

  getAll(name) {
    need(arguments.length, 1, 'getAll')
    const n = usv(name)
    return list(this)
      .filter(([k]) => k === n)
      .map(([, v]) => v)
  }

  has(name, value) {
    need(arguments.length, 1, 'has')
    const n = usv(name)
    const v = value === undefined ? undefined : usv(value)
    return list(this).some(([k, val]) => k === n && (v === undefined || val === v))
  }

  set(name, value) {
    need(arguments.length, 2, 'set')
    const n = usv(name)
    const v = usv(value)
    const l = list(this)
    const i = l.findIndex(([k]) => k === n)
    if (i === -1) l.push([n, v])
    else {
      l[i] = [n, v]
      this[kList] = l.filter(([k], j) => j <= i || k !== n)
    }
    update(this)
  }

  sort() {
    // Array.prototype.sort is stable; names compare by UTF-16 code units.
    list(this).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    update(this)
  }

  toString() {
    return serializeForm(list(this))
  }

  [inspectSymbol](depth, options, inspect) {
    const items = list(this).map(([k, v]) => `${inspect(k)} => ${inspect(v)}`)
    return items.length ? `URLSearchParams { ${items.join(', ')} }` : 'URLSearchParams {}'
  }
}
tag(URLSearchParams, 'URLSearchParams')
pairIterable(URLSearchParams, 'URLSearchParams', list)
enumerableMembers(URLSearchParams, URL)
