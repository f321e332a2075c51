// Chunk "multibyte": @exodus/bytes' decoders of the legacy CJK encodings (gbk, gb18030, big5,
// euc-jp, iso-2022-jp, shift_jis, euc-kr) with their index tables, 150 KB of source that only a
// TextDecoder for one of them loads. Each table is unpacked on its first use.
import { provide } from '../shared.js'
import { TextDecoder } from '@exodus/bytes/encoding.js'

provide('multibyte', { TextDecoder })
