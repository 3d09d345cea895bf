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

/** "YYYY-MM-DD" of a day number since 1970-01-01 (years outside 0…9999 as ±YYYYYY, like Date#toISOString). */
export function dayToDateString(days: number): string {
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

/** RFC 3339 with µs precision: 2024-01-02T03:04:05.123456Z */
export function microsToIso(us: bigint): string {
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  const sub = ((us % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const d = new Date(Number(ms));
  return `${d.toISOString().slice(0, 19)}.${sub.toString().padStart(6, '0')}Z`;
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
