/** Timestamps in cq-pipe are µs since the Unix epoch, UTC (SPEC §2 `timestamp`). */

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Parse an RFC 3339 / ISO 8601 timestamp (or a date) into µs since epoch; throws on bad input. */
export function toMicros(s: string): bigint {
  const m = ISO.exec(s.trim());
  if (!m) throw new Error(`invalid timestamp "${s}"`);
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', tz] = m;
  const ms = Date.UTC(+y!, +mo! - 1, +d!, +h, +mi, +sec);
  if (Number.isNaN(ms) || +mo! > 12 || +d! > 31 || +h > 23 || +mi > 59 || +sec > 60) throw new Error(`invalid timestamp "${s}"`);
  let us = BigInt(ms) * 1000n + BigInt((frac + '000000').slice(0, 6));
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1n : 1n;
    const digits = tz.slice(1).replace(':', '');
    const offMin = BigInt(+digits.slice(0, 2) * 60 + +(digits.slice(2, 4) || '0'));
    us -= sign * offMin * 60_000_000n;
  }
  return us;
}

/** RFC 3339 with µs precision: 2024-01-02T03:04:05.123456Z */
export function microsToIso(us: bigint): string {
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  const sub = ((us % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const d = new Date(Number(ms));
  return `${d.toISOString().slice(0, 19)}.${sub.toString().padStart(6, '0')}Z`;
}

export function dateToMicros(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}
