/**
 * Date, time and timestamp kernels: epoch and unit constants, day numbers ↔ civil dates, unit
 * conversions to µs, µs → RFC 3339 text, and constant timestamp columns. Parsing of timestamp text
 * lives in lib/time.ts.
 */
import * as A from 'apache-arrow';

export const MS_PER_DAY = 86_400_000;
/** Postgres counts dates and timestamps from 2000-01-01: its offset from the Unix epoch in µs and in days */
export const PG_EPOCH_US = 946_684_800_000_000n;
export const PG_EPOCH_DAYS = 10_957;

/** units per second and fraction digits of an Arrow TimeUnit (0 s, 1 ms, 2 µs, 3 ns), by unit */
export const UNIT_PER_SEC: readonly number[] = [1, 1_000, 1_000_000, 1_000_000_000];
export const UNIT_DIGITS: readonly number[] = [0, 3, 6, 9];

/**
 * ±infinity of timestamps and dates (Postgres' `infinity`, DuckDB's): the largest int64 µs and its
 * negation, the largest int32 day and its negation — DuckDB's own encoding, so a Parquet file read by
 * DuckDB shows `infinity`. Postgres destinations write them back as infinity; text formats render
 * them as `infinity` / `-infinity` (docs/semantics.md, types).
 */
export const TS_INFINITY = 0x7fffffffffffffffn;
export const TS_NEG_INFINITY = -0x7fffffffffffffffn;
export const DATE_INFINITY = 0x7fffffff;
export const DATE_NEG_INFINITY = -0x7fffffff;

/** days of month `m` (1–12) of proleptic Gregorian year `y` */
export function daysInMonth(y: number, m: number): number {
  if (m === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Day number since 1970-01-01 of a civil date (proleptic Gregorian, any year; H. Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Civil date of a day number since 1970-01-01 (proleptic Gregorian; H. Hinnant's civil_from_days),
 * written to `out` as [year, month 1–12, day 1–31] so the hot path allocates nothing.
 */
export function civilFromDays(days: number, out: Int32Array): void {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9;
  out[0] = yoe + era * 400 + (m <= 2 ? 1 : 0);
  out[1] = m;
  out[2] = doy - Math.floor((153 * mp + 2) / 5) + 1;
}

const civil = new Int32Array(3);

/** "YYYY-MM-DD" of a day number since 1970-01-01 (years outside 0…9999 as ±YYYYYY, like Date#toISOString; the sentinels as ±infinity). */
export function dayToDateString(days: number): string {
  if (days === DATE_INFINITY) return 'infinity';
  if (days === DATE_NEG_INFINITY) return '-infinity';
  civilFromDays(days, civil);
  const y = civil[0]!,
    m = civil[1]!,
    d = civil[2]!;
  const ys = y >= 0 && y <= 9999 ? String(y).padStart(4, '0') : y < 0 ? '-' + String(-y).padStart(6, '0') : '+' + String(y).padStart(6, '0');
  return `${ys}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** int64 timestamp (or duration) values of `unit` → µs; sub-µs digits are truncated toward zero. */
export function timestampToMicros(unit: A.TimeUnit): (x: bigint) => bigint {
  if (unit === A.TimeUnit.MICROSECOND) return (x) => x;
  if (unit === A.TimeUnit.NANOSECOND) return (x) => x / 1000n;
  if (unit === A.TimeUnit.MILLISECOND) return (x) => x * 1000n;
  return (x) => x * 1_000_000n;
}

/** time-of-day values of `unit` (int32 for s/ms, int64 for µs/ns) → µs as bigint. */
export function timeToMicros(unit: A.TimeUnit): (x: bigint | number) => bigint {
  if (unit === A.TimeUnit.MICROSECOND) return (x) => BigInt(x);
  if (unit === A.TimeUnit.NANOSECOND) return (x) => BigInt(x) / 1000n;
  if (unit === A.TimeUnit.MILLISECOND) return (x) => BigInt(x) * 1000n;
  return (x) => BigInt(x) * 1_000_000n;
}

/** RFC 3339 with µs precision, exact for every int64: 2024-01-02T03:04:05.123456Z (the sentinels as ±infinity) */
export function microsToIso(us: bigint): string {
  if (us === TS_INFINITY) return 'infinity';
  if (us === TS_NEG_INFINITY) return '-infinity';
  let secs = us / 1_000_000n;
  let sub = us % 1_000_000n;
  if (sub < 0n) {
    sub += 1_000_000n;
    secs -= 1n;
  }
  const s = Number(secs); // |s| < 2^53: exact
  const days = Math.floor(s / 86400);
  const sod = s - days * 86400;
  const two = (x: number) => String(x).padStart(2, '0');
  const h = Math.floor(sod / 3600),
    mi = Math.floor((sod % 3600) / 60);
  return `${dayToDateString(days)}T${two(h)}:${two(mi)}:${two(sod % 60)}.${sub.toString().padStart(6, '0')}Z`;
}

/** µs since the epoch of a JS Date. */
export function dateToMicros(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}

/** The same timestamp (µs since epoch) repeated `length` times. */
export function constantTimestampData(micros: bigint, length: number): A.Data<A.TimestampMicrosecond> {
  const values = new BigInt64Array(length).fill(micros);
  return A.makeData({ type: new A.TimestampMicrosecond('UTC'), length, nullCount: 0, data: values });
}
