/**
 * JSON text → values with every integer exact: `JSON.parse` turns 9007199254740993 into
 * 9007199254740992 before anyone sees it. Text is parsed by `JSON.parse`; only when the result holds
 * a number of magnitude 2^53 or more (one walk over the values, no second look at the text in the
 * common case) is it parsed again with the integer tokens outside strings that are not safe JS
 * integers read as `bigint` (docs/file-source.md, conversions). Numbers with a
 * fraction or an exponent stay JS numbers (doubles), as JSON readers take them. The tokens `NaN`,
 * `Infinity` and `-Infinity`, which DuckDB and Python write for doubles, are read as those numbers.
 */

/** a marked integer: U+0001 then the digits (a raw U+0001 cannot occur in a JSON string) */
const MARK = 1;

function revive(_key: string, v: unknown): unknown {
  if (typeof v !== 'string' || v.charCodeAt(0) !== MARK) return v;
  const t = v.slice(1);
  return t === 'NaN' ? NaN : t === 'Infinity' ? Infinity : t === '-Infinity' ? -Infinity : BigInt(t);
}

const NON_FINITE = ['NaN', 'Infinity', '-Infinity'];

/** `text` with each unsafe integer and NaN/±Infinity token outside strings rewritten as a marked string, or undefined when there is none */
function markTokens(text: string): string | undefined {
  let out: string[] | undefined;
  let last = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // skip a string, escapes included
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      continue;
    }
    if (c === 78 || c === 73 || (c === 45 && text.charCodeAt(i + 1) === 73)) {
      const word = NON_FINITE.find((w) => text.startsWith(w, i));
      if (word) {
        out ??= [];
        out.push(text.slice(last, i), `"\\u0001${word}"`);
        last = i + word.length;
        i = last - 1;
        continue;
      }
    }
    if (c !== 45 && (c < 48 || c > 57)) continue;
    const start = i;
    if (c === 45) i++;
    while (i < n && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    const next = i < n ? text.charCodeAt(i) : 0;
    const integer = next !== 46 && next !== 101 && next !== 69;
    // skip the rest of a number with a fraction or an exponent
    while (i < n && /[0-9.eE+-]/.test(text[i]!)) i++;
    const token = text.slice(start, i);
    i--;
    if (!integer || token.length < 16 || Number.isSafeInteger(Number(token))) continue;
    out ??= [];
    out.push(text.slice(last, start), `"\\u0001${token}"`);
    last = start + token.length;
  }
  if (!out) return undefined;
  out.push(text.slice(last));
  return out.join('');
}

/** a parsed value holds a number that may be a rounded integer (an integer of magnitude 2^53 or more) */
function hasUnsafeInteger(v: unknown): boolean {
  if (typeof v === 'number') return (v >= TWO53 || v <= -TWO53) && Number.isFinite(v);
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (hasUnsafeInteger(v[i])) return true;
    return false;
  }
  for (const k in v) if (hasUnsafeInteger((v as Record<string, unknown>)[k])) return true;
  return false;
}

const TWO53 = 2 ** 53;

/** JSON.parse, but integers beyond ±2^53 come back as exact `bigint`s; throws SyntaxError as JSON.parse does. */
export function parseJsonExact(text: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    // NaN / Infinity tokens: parsed below; anything else is the caller's malformed JSON
    if (!/NaN|Infinity/.test(text)) throw err;
    return JSON.parse(markTokens(text) ?? text, revive);
  }
  // only a value JSON.parse may have rounded pays for the second, exact parse
  if (!hasUnsafeInteger(v)) return v;
  const marked = markTokens(text);
  return marked === undefined ? v : JSON.parse(marked, revive);
}

/** JSON.stringify that writes bigints (from parseJsonExact) as exact JSON numbers. */
export function stringifyExact(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    const marked = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `\u0001${x}` : x));
    return marked.replace(/"\\u0001(-?\d+)"/g, '$1');
  }
}
