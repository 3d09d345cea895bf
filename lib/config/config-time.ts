/**
 * `${time:<when>|<layout>}` in config text (docs/config.md, interpolation), as CloudQuery reads it:
 * `<when>` is `now`, an RFC 3339 time, a date (`2024-01-31`), a Go duration relative to now (`-24h`,
 * `1h30m`) or a human relative time (`3 days ago`, `10 months 3 days 4h20m from now`); `<layout>`
 * is a Go time layout (`2006-01-02`), RFC 3339 by default. Relative times are in the local time
 * zone, absolute ones keep the offset they were written with, dates are UTC midnight.
 */

/** An instant with the UTC offset (minutes) and zone name it is shown in. */
export interface ZonedTime {
  ms: number;
  offsetMin: number;
  zone: string;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:.(\d{1,9}))?(Z|[-+]\d{2}:\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DURATION_SEGMENT = '[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+';
const BASE_DURATION = new RegExp(`^${DURATION_SEGMENT}$`);
const UNITS = 'nanoseconds?|ns|microseconds?|us|µs|μs|milliseconds?|ms|seconds?|s|minutes?|m|hours?|h|days?|d|months?|M|years?|Y';
const HUMAN_SEGMENT = `(([0-9]+\\s+(${UNITS})|${DURATION_SEGMENT}))`;
const HUMAN_RELATIVE = new RegExp(`^${HUMAN_SEGMENT}(\\s+${HUMAN_SEGMENT})*\\s+(ago|from\\s+now)$`);
const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds; undefined when it is not one. */
export function parseGoDuration(s: string): number | undefined {
  const m = /^([-+]?)(.+)$/.exec(s);
  if (!m || m[2] === '0') return m?.[2] === '0' ? 0 : undefined;
  let rest = m[2]!;
  let total = 0;
  while (rest) {
    const seg = /^(\d*(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!seg || seg[1] === '' || seg[1] === '.') return undefined;
    total += Number(seg[1]) * GO_UNIT_MS[seg[2]!]!;
    rest = rest.slice(seg[0].length);
  }
  return m[1] === '-' ? -total : total;
}

interface Relative {
  sign: number;
  ms: number;
  days: number;
  months: number;
  years: number;
}

const HUMAN_UNIT: Record<string, [keyof Relative, number]> = {
  nanosecond: ['ms', 1e-6],
  ns: ['ms', 1e-6],
  microsecond: ['ms', 1e-3],
  us: ['ms', 1e-3],
  µs: ['ms', 1e-3],
  μs: ['ms', 1e-3],
  millisecond: ['ms', 1],
  second: ['ms', 1000],
  minute: ['ms', 60_000],
  hour: ['ms', 3_600_000],
  day: ['days', 1],
  month: ['months', 1],
  year: ['years', 1],
};

function parseRelative(s: string): Relative | string {
  const r: Relative = { sign: 0, ms: 0, days: 0, months: 0, years: 0 };
  let value: number | undefined;
  let inSign = false;
  for (const part of s.split(/\s+/)) {
    if (inSign) {
      if (part !== 'now') return `invalid sign specifier "${part}"`;
      r.sign = 1;
      inSign = false;
    } else if (value !== undefined) {
      const unit = HUMAN_UNIT[part] ?? HUMAN_UNIT[part.replace(/s$/, '')];
      if (!unit) return `invalid unit "${part}"`;
      r[unit[0]] += value * unit[1];
      value = undefined;
    } else if (part === 'ago' || part === 'from') {
      if (r.sign !== 0) return 'more than one sign specifier';
      if (part === 'ago') r.sign = -1;
      else inSign = true;
    } else if (/^[0-9]+$/.test(part)) {
      value = Number(part);
    } else {
      const d = BASE_DURATION.test(part) ? parseGoDuration(part) : undefined;
      if (d === undefined) return `invalid value "${part}"`;
      r.ms += d;
    }
  }
  if (r.sign === 0) r.sign = 1;
  return r;
}

function localZone(ms: number): ZonedTime {
  const d = new Date(ms);
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? 'Local';
  return { ms, offsetMin: -d.getTimezoneOffset(), zone };
}

/** The instant `${time:…}` names (before `|`), relative to `now`; a string says what is wrong. */
export function resolveConfigTime(when: string, now: Date): ZonedTime | string {
  if (when === 'now') return localZone(now.getTime());
  const abs = RFC3339.exec(when);
  if (abs) {
    const [, y, mo, d, h, mi, sec, frac = '', tz] = abs;
    const off = tz === 'Z' ? 0 : (tz![0] === '-' ? -1 : 1) * (Number(tz!.slice(1, 3)) * 60 + Number(tz!.slice(4, 6)));
    const ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +sec!, Number(`0.${frac || '0'}`) * 1000) - off * 60_000;
    if (Number.isNaN(ms) || +mo! > 12 || +d! > 31 || +h! > 23 || +mi! > 59 || +sec! > 59) return `"${when}" is not a valid time`;
    return { ms, offsetMin: off, zone: tz === 'Z' ? 'UTC' : '' };
  }
  const date = DATE.exec(when);
  if (date) {
    const ms = Date.UTC(+date[1]!, +date[2]! - 1, +date[3]!);
    if (+date[2]! > 12 || +date[3]! > 31) return `"${when}" is not a valid date`;
    return { ms, offsetMin: 0, zone: 'UTC' };
  }
  if (!BASE_DURATION.test(when) && !HUMAN_RELATIVE.test(when)) return `invalid time format "${when}"`;
  const r = parseRelative(when);
  if (typeof r === 'string') return `invalid duration "${when}": ${r}`;
  // Go: now.Add(duration × sign).AddDate(years × sign, months × sign, days × sign), in local time
  const t = new Date(now.getTime() + r.ms * r.sign);
  t.setFullYear(t.getFullYear() + r.years * r.sign, t.getMonth() + r.months * r.sign, t.getDate() + r.days * r.sign);
  return localZone(t.getTime());
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
// Go's layout elements, longest first where one is a prefix of another
const ELEMENTS = [
  'January',
  'Jan',
  'Monday',
  'Mon',
  'MST',
  '2006',
  '002',
  '__2',
  '_2',
  '01',
  '02',
  '03',
  '04',
  '05',
  '06',
  '15',
  '1',
  '2',
  '3',
  '4',
  '5',
  'PM',
  'pm',
  'Z070000',
  'Z07:00:00',
  'Z0700',
  'Z07:00',
  'Z07',
  '-070000',
  '-07:00:00',
  '-0700',
  '-07:00',
  '-07',
];

const pad = (n: number, w: number, c = '0') => String(n).padStart(w, c);

function zoneText(el: string, offsetMin: number): string {
  if (el.startsWith('Z') && offsetMin === 0) return 'Z';
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  const hh = pad(Math.floor(a / 60), 2);
  const mm = pad(a % 60, 2);
  const body = el.slice(1);
  if (body === '07') return sign + hh;
  if (body === '0700') return sign + hh + mm;
  if (body === '07:00') return `${sign}${hh}:${mm}`;
  if (body === '070000') return `${sign}${hh}${mm}00`;
  return `${sign}${hh}:${mm}:00`;
}

/** Format like Go's time.Format with a layout (the reference time Mon Jan 2 15:04:05 MST 2006). */
export function formatGoLayout(t: ZonedTime, layout: string): string {
  const w = new Date(t.ms + t.offsetMin * 60_000);
  const [Y, M, D, h, mi, s, ms] = [
    w.getUTCFullYear(),
    w.getUTCMonth(),
    w.getUTCDate(),
    w.getUTCHours(),
    w.getUTCMinutes(),
    w.getUTCSeconds(),
    w.getUTCMilliseconds(),
  ];
  const yday = Math.floor((Date.UTC(Y, M, D) - Date.UTC(Y, 0, 1)) / 86_400_000) + 1;
  const h12 = h % 12 === 0 ? 12 : h % 12;
  let out = '';
  let i = 0;
  while (i < layout.length) {
    const frac = /^[.,](0+|9+)(?![0-9])/.exec(layout.slice(i));
    if (frac) {
      const n = frac[1]!.length;
      const digits = (pad(ms, 3) + '0'.repeat(Math.max(0, n - 3))).slice(0, n);
      if (frac[1]![0] === '0') out += layout[i] + digits;
      else if (/[1-9]/.test(digits)) out += layout[i] + digits.replace(/0+$/, '');
      i += frac[0].length;
      continue;
    }
    const el = ELEMENTS.find((e) => layout.startsWith(e, i));
    if (!el) {
      out += layout[i];
      i++;
      continue;
    }
    i += el.length;
    if (el === 'January') out += MONTHS[M];
    else if (el === 'Jan') out += MONTHS[M]!.slice(0, 3);
    else if (el === 'Monday') out += DAYS[w.getUTCDay()];
    else if (el === 'Mon') out += DAYS[w.getUTCDay()]!.slice(0, 3);
    else if (el === 'MST') out += t.zone || zoneText('-0700', t.offsetMin);
    else if (el === '2006') out += pad(Y, 4);
    else if (el === '002') out += pad(yday, 3);
    else if (el === '__2') out += pad(yday, 3, ' ');
    else if (el === '_2') out += pad(D, 2, ' ');
    else if (el === '01') out += pad(M + 1, 2);
    else if (el === '02') out += pad(D, 2);
    else if (el === '03') out += pad(h12, 2);
    else if (el === '04') out += pad(mi, 2);
    else if (el === '05') out += pad(s, 2);
    else if (el === '06') out += pad(Y % 100, 2);
    else if (el === '15') out += pad(h, 2);
    else if (el === '1') out += M + 1;
    else if (el === '2') out += D;
    else if (el === '3') out += h12;
    else if (el === '4') out += mi;
    else if (el === '5') out += s;
    else if (el === 'PM') out += h >= 12 ? 'PM' : 'AM';
    else if (el === 'pm') out += h >= 12 ? 'pm' : 'am';
    else out += zoneText(el, t.offsetMin);
  }
  return out;
}

/** Go's time.RFC3339 layout, the default of `${time:…}` */
export const RFC3339_LAYOUT = '2006-01-02T15:04:05Z07:00';

/** The text `${time:<expr>}` expands to; a string error when `<expr>` is not a time. */
export function expandConfigTime(expr: string, now: Date): { text: string } | { error: string } {
  const bar = expr.indexOf('|');
  const when = bar < 0 ? expr : expr.slice(0, bar);
  const layout = bar < 0 ? RFC3339_LAYOUT : expr.slice(bar + 1).split('|')[0]!;
  const t = resolveConfigTime(when, now);
  return typeof t === 'string' ? { error: t } : { text: formatGoLayout(t, layout) };
}
