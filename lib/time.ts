/**
 * Timestamps in cq-pipe are µs since the Unix epoch, UTC (docs/config.md, column types). Parsing of
 * timestamp text lives here; the conversions (µs → text, Date → µs) are in lib/arrow/time.ts.
 */
import { SourceDataError } from './errors.js';

export { dateToMicros, microsToIso } from './arrow/time.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Parse an RFC 3339 / ISO 8601 timestamp (or a date) into µs since epoch; throws on bad input. */
export function toMicros(s: string): bigint {
  const m = ISO.exec(s.trim());
  if (!m) throw new SourceDataError(`invalid timestamp "${s}"`);
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', tz] = m;
  const ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +sec);
  if (Number.isNaN(ms) || +mo! > 12 || +d! > 31 || +h > 23 || +mi > 59 || +sec > 60) throw new SourceDataError(`invalid timestamp "${s}"`);
  let us = BigInt(ms) * 1000n + BigInt((frac + '000000').slice(0, 6));
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1n : 1n;
    const digits = tz.slice(1).replace(':', '');
    const offMin = BigInt(+digits.slice(0, 2) * 60 + +(digits.slice(2, 4) || '0'));
    us -= sign * offMin * 60_000_000n;
  }
  return us;
}

const D0 = 48;
function digits(s: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = s.charCodeAt(i) - D0;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Fast path of toMicros for the common shapes `YYYY-MM-DD[T ]HH:MM:SS[.f…](Z|±HH:MM)`, parsed by
 * char codes into a JS number of µs (exact for years 1700–2250). NaN for anything else: callers
 * then fall back to toMicros, which accepts every form and reports errors.
 */
export function isoToMicrosNumber(s: string): number {
  const len = s.length;
  if (len < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return NaN;
  const sep = s.charCodeAt(10);
  if (sep !== 84 && sep !== 32) return NaN;
  const y = digits(s, 0, 4),
    mo = digits(s, 5, 2),
    d = digits(s, 8, 2),
    h = digits(s, 11, 2),
    mi = digits(s, 14, 2),
    sec = digits(s, 17, 2);
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 59)) return NaN;
  let p = 19;
  let frac = 0;
  if (s.charCodeAt(p) === 46) {
    p++;
    let n = 0;
    while (p < len) {
      const c = s.charCodeAt(p) - D0;
      if (c < 0 || c > 9) break;
      if (n < 6) frac = frac * 10 + c;
      n++;
      p++;
    }
    if (n === 0) return NaN;
    for (let k = n; k < 6; k++) frac *= 10;
  }
  let offsetMin = 0;
  const z = s.charCodeAt(p);
  if ((z === 90 || z === 122) && p + 1 === len) {
    // UTC
  } else if ((z === 43 || z === 45) && p + 6 === len && s.charCodeAt(p + 3) === 58) {
    const oh = digits(s, p + 1, 2),
      om = digits(s, p + 4, 2);
    if (Number.isNaN(oh) || Number.isNaN(om)) return NaN;
    offsetMin = (z === 45 ? -1 : 1) * (oh * 60 + om);
  } else {
    return NaN;
  }
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  if (Number.isNaN(ms) || (d > 28 && new Date(ms).getUTCDate() !== d)) return NaN;
  return (ms - offsetMin * 60_000) * 1000 + frac;
}
