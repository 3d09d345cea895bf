/**
 * Timestamps in cq-pipe are µs since the Unix epoch, UTC (docs/semantics.md, types). This is the one
 * parser of timestamp and date text: exact for every year 0000–9999 (and ±YYYYYY), calendar-checked
 * (`2024-02-30` fails, it does not roll over), with `infinity` / `-infinity` as the sentinels of
 * lib/arrow/time.ts. The conversions the other way (µs → text) are in lib/arrow/time.ts.
 */
import { SourceDataError } from './errors.js';
import { daysFromCivil, daysInMonth, DATE_INFINITY, DATE_NEG_INFINITY, TS_INFINITY, TS_NEG_INFINITY } from './arrow/time.js';

export { dateToMicros, microsToIso } from './arrow/time.js';

const ISO = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/;
const DATE = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})$/;

/** ±infinity as text (Postgres' and DuckDB's spelling, any case) → its sign, else 0 */
function infinity(s: string): number {
  const l = s.toLowerCase();
  return l === 'infinity' || l === '+infinity' ? 1 : l === '-infinity' ? -1 : 0;
}

/** days since 1970-01-01 of a checked calendar date, or NaN when the date does not exist */
function civilDays(y: number, mo: number, d: number): number {
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo))) return NaN;
  return daysFromCivil(y, mo, d);
}

/**
 * Parse an RFC 3339 / ISO 8601 timestamp (or a date, taken as midnight UTC) into µs since the epoch,
 * exactly; `infinity` / `-infinity` give the sentinels. Throws a SourceDataError on anything else,
 * including dates that do not exist and hours past 23.
 */
export function toMicros(s: string): bigint {
  const text = s.trim();
  const inf = infinity(text);
  if (inf) return inf > 0 ? TS_INFINITY : TS_NEG_INFINITY;
  const m = ISO.exec(text);
  if (!m) throw new SourceDataError(`invalid timestamp "${s}"`);
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', tz] = m;
  const days = civilDays(+y!, +mo!, +d!);
  // a leap second (:60) is taken as the next minute's first second, as Postgres does
  if (Number.isNaN(days) || +h > 23 || +mi > 59 || +sec > 60) throw new SourceDataError(`invalid timestamp "${s}"`);
  let offMin = 0;
  if (tz && tz !== 'Z' && tz !== 'z' && tz !== 'UTC') {
    const digits = tz.slice(1).replace(':', '');
    const oh = +digits.slice(0, 2),
      om = +(digits.slice(2, 4) || '0');
    if (oh > 23 || om > 59) throw new SourceDataError(`invalid timestamp "${s}"`);
    offMin = (tz[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const secs = days * 86400 + +h * 3600 + +mi * 60 + +sec - offMin * 60; // |secs| < 2^53: exact
  return BigInt(secs) * 1_000_000n + BigInt((frac + '000000').slice(0, 6));
}

/** `YYYY-MM-DD` (or `infinity` / `-infinity`) → days since 1970-01-01; NaN when it is not a date that exists. */
export function toDays(s: string): number {
  const text = s.trim();
  const inf = infinity(text);
  if (inf) return inf > 0 ? DATE_INFINITY : DATE_NEG_INFINITY;
  const m = DATE.exec(text);
  return m ? civilDays(+m[1]!, +m[2]!, +m[3]!) : NaN;
}

const D0 = 48;

/** µs as a JS number are exact below 2^53: seconds within ±9,007,199,254 (about 1684–2255) */
const SAFE_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1_000_000);

/**
 * Fast path of toMicros for the common shapes `YYYY-MM-DD[T ]HH:MM:SS[.f…](Z|±HH:MM|±HHMM|±HH)`, parsed by
 * char codes into a JS number of µs. NaN for anything else, for a date that does not exist, and for
 * instants whose µs are not exact as a JS number (before ~1684, after ~2255): callers then fall
 * back to toMicros, which is exact everywhere and reports errors.
 */
export function isoToMicrosNumber(s: string): number {
  const len = s.length;
  if (len < 20 || len > 64) return len < 20 ? NaN : isoCodesToMicros(codesOf(s, new Uint16Array(len)), 0, len);
  return isoCodesToMicros(codesOf(s, SCRATCH), 0, len);
}

/** scratch for the code units of a short string */
const SCRATCH = new Uint16Array(64);

function codesOf(s: string, out: Uint16Array): Uint16Array {
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** isoToMicrosNumber of the code units (UTF-16, or bytes of ASCII text) s[start, start + len) */
export function isoCodesToMicros(s: Uint16Array | Uint8Array, start: number, len: number): number {
  if (len < 20 || s[start + 4] !== 45 || s[start + 7] !== 45 || s[start + 13] !== 58 || s[start + 16] !== 58) return NaN;
  const sep = s[start + 10];
  if (sep !== 84 && sep !== 32) return NaN;
  const y = digitsAt(s, start, 0, 4),
    mo = digitsAt(s, start, 5, 2),
    d = digitsAt(s, start, 8, 2),
    h = digitsAt(s, start, 11, 2),
    mi = digitsAt(s, start, 14, 2),
    sec = digitsAt(s, start, 17, 2);
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 59)) return NaN;
  if (d > 28 && d > daysInMonth(y, mo)) return NaN;
  let p = 19;
  let frac = 0;
  if (s[start + p] === 46) {
    p++;
    let n = 0;
    while (p < len) {
      const c = s[start + p]! - D0;
      if (c < 0 || c > 9) break;
      if (n < 6) frac = frac * 10 + c;
      n++;
      p++;
    }
    if (n === 0) return NaN;
    for (let k = n; k < 6; k++) frac *= 10;
  }
  let offsetMin = 0;
  const z = p < len ? s[start + p] : -1;
  if ((z === 90 || z === 122) && p + 1 === len) {
    // UTC
  } else if (z === 43 || z === 45) {
    // ±HH:MM, ±HHMM or ±HH (DuckDB writes +00), as toMicros reads them
    const tz = len - p;
    if (!(tz === 3 || tz === 5 || (tz === 6 && s[start + p + 3] === 58))) return NaN;
    const oh = digitsAt(s, start, p + 1, 2),
      om = tz === 3 ? 0 : digitsAt(s, start, p + tz - 2, 2);
    if (!(oh <= 23 && om <= 59)) return NaN;
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else {
    return NaN;
  }
  const secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offsetMin * 60;
  if (secs >= SAFE_SECONDS || secs <= -SAFE_SECONDS) return NaN;
  return secs * 1_000_000 + frac;
}

/** the decimal of the n code units s[start + from, …) (all within the text: callers checked its length), or NaN */
function digitsAt(s: Uint16Array | Uint8Array, start: number, from: number, n: number): number {
  let v = 0;
  for (let i = start + from; i < start + from + n; i++) {
    const c = s[i]! - D0;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}
