/**
 * JSON read and written the way Go's encoding/json does it for CloudQuery's `obfuscate_columns_except`
 * (docs/transformers.md): numbers keep their literal text (Go's `UseNumber`), objects are Maps so any
 * key is safe, and output has object keys sorted by code point, compact, with Go's string escapes.
 */

/** a JSON number, kept as written (`1.0`, `1e5`, integers past 2^53) */
export class GoNumber {
  constructor(readonly raw: string) {}
}
export type GoJson = null | boolean | string | GoNumber | GoJson[] | Map<string, GoJson>;

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/**
 * The first JSON value of `text`, as Go's `json.Decoder.Decode` reads it: what follows a complete
 * object or array is not looked at; after a scalar only whitespace may follow the value's end.
 * Throws a SyntaxError on invalid JSON.
 */
export function parseGoJson(text: string): GoJson {
  let i = 0;
  const bad = (): never => {
    throw new SyntaxError(`invalid JSON at offset ${i}`);
  };
  const skip = () => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    let from = i;
    let unicodeEscape = false;
    for (;;) {
      if (i >= text.length) bad();
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) bad();
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(from, i);
      const e = text[i + 1];
      if (e === 'u') {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) bad();
        out += String.fromCharCode(Number.parseInt(hex, 16));
        unicodeEscape = true;
        i += 6;
      } else if (e !== undefined && e in ESCAPES) {
        out += ESCAPES[e];
        i += 2;
      } else bad();
      from = i;
    }
    out += text.slice(from, i);
    i++;
    // Go decodes a lone surrogate escape to U+FFFD
    return unicodeEscape ? out.replace(LONE_SURROGATE, '\uFFFD') : out;
  };
  const value = (): GoJson => {
    skip();
    const c = text[i];
    if (c === '{') {
      i++;
      const m = new Map<string, GoJson>();
      skip();
      if (text[i] === '}') {
        i++;
        return m;
      }
      for (;;) {
        skip();
        if (text[i] !== '"') bad();
        const k = str();
        skip();
        if (text[i++] !== ':') bad();
        m.set(k, value());
        skip();
        const d = text[i++];
        if (d === '}') return m;
        if (d !== ',') bad();
      }
    }
    if (c === '[') {
      i++;
      const a: GoJson[] = [];
      skip();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        skip();
        const d = text[i++];
        if (d === ']') return a;
        if (d !== ',') bad();
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const n = NUMBER.exec(text);
    if (!n) return bad();
    i += n[0].length;
    return new GoNumber(n[0]);
  };
  const root = value();
  if (!(root instanceof Map) && !Array.isArray(root) && i < text.length && !WS.has(text.charCodeAt(i))) bad();
  return root;
}

/** Go's byte-wise (UTF-8) string order, on UTF-16 strings: surrogates sort after U+E000…U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; k++) {
    let x = a.charCodeAt(k);
    let y = b.charCodeAt(k);
    if (x === y) continue;
    x = x >= 0xe000 ? x - 0x800 : x >= 0xd800 ? x + 0x2000 : x;
    y = y >= 0xe000 ? y - 0x800 : y >= 0xd800 ? y + 0x2000 : y;
    return x - y;
  }
  return a.length - b.length;
}

const HTML = /[<>&\u2028\u2029]/g;
const LINE_SEPARATORS = /[\u2028\u2029]/g;
const hexEscape = (ch: string) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** A string quoted as Go's encoder does it (`escapeHtml`: json.Marshal; without: an Encoder with SetEscapeHTML(false)). */
function quote(s: string, escapeHtml: boolean): string {
  return JSON.stringify(s).replace(escapeHtml ? HTML : LINE_SEPARATORS, hexEscape);
}

/** Compact JSON as Go writes it: `escapeHtml` true is `json.Marshal`, false an Encoder with SetEscapeHTML(false). */
export function goMarshal(v: GoJson, escapeHtml: boolean): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return quote(v, escapeHtml);
  if (v instanceof GoNumber) return v.raw;
  if (Array.isArray(v)) return `[${v.map((x) => goMarshal(x, escapeHtml)).join(',')}]`;
  const keys = [...v.keys()].sort(compareCodePoints);
  return `{${keys.map((k) => `${quote(k, escapeHtml)}:${goMarshal(v.get(k)!, escapeHtml)}`).join(',')}}`;
}
