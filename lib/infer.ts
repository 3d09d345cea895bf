/**
 * Schema inference for row formats (NDJSON, JSON, CSV) from a sample of rows.
 *
 * Per column the observed kinds widen along null → bool | int → float → string (integers beyond int64
 * make decimal(38,0), numbers a double cannot hold exactly make text); a timestamp column
 * is one whose every sampled value is an ISO-8601 date-time string; objects and arrays make a json
 * column. Columns appear in first-seen order and are nullable unless they are primary keys.
 * In text formats (CSV) every cell is a string, so the kinds are read from the text.
 */
import { toMicros } from './time.js';

export type InferredType = 'bool' | 'int64' | 'decimal(38,0)' | 'float64' | 'utf8' | 'timestamp' | 'json';

type Kind = 'null' | 'bool' | 'int' | 'bigint' | 'float' | 'timestamp' | 'string' | 'json';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** an integer: int64 when it fits, else decimal(38,0) up to 38 digits, else text (never a rounded double) */
function integerKind(v: bigint): Kind {
  if (v >= INT64_MIN && v <= INT64_MAX) return 'int';
  return (v < 0n ? -v : v).toString().length <= 38 ? 'bigint' : 'string';
}

/** the value of decimal text as [digits, exponent] with no trailing zeros in the digits */
function decimalParts(s: string): [string, number] {
  const m = /^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s)!;
  const frac = m[2] ?? '';
  let digits = ((m[1] ?? '') + frac).replace(/^0+/, '');
  let exp = Number(m[3] ?? 0) - frac.length;
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    exp++;
  }
  return digits === '' ? ['', 0] : [(s.trim().startsWith('-') ? '-' : '') + digits, exp];
}

/** float64 holds the number written as `s` exactly (so 0.1 and 1e300 do; 12345678901234567.5 does not) */
function exactAsDouble(s: string): boolean {
  if (s.length < 16) return true; // at most 15 significant digits
  const x = Number(s);
  if (!Number.isFinite(x)) return false;
  const a = decimalParts(s.trim()),
    b = decimalParts(String(x));
  return a[0] === b[0] && a[1] === b[1];
}

const TS_RE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;
const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function isTimestamp(s: string): boolean {
  if (!TS_RE.test(s)) return false;
  try {
    toMicros(s);
    return true;
  } catch {
    return false;
  }
}

function kindOf(v: unknown, text: boolean): Kind {
  if (v === null || v === undefined) return 'null';
  if (text && typeof v === 'string') {
    const s = v.trim();
    if (s === '') return 'null';
    if (INT_RE.test(s)) return Number.isSafeInteger(Number(s)) ? 'int' : integerKind(BigInt(s));
    if (FLOAT_RE.test(s)) return exactAsDouble(s) ? 'float' : 'string';
    if (s === 'true' || s === 'false') return 'bool';
    if (isTimestamp(s)) return 'timestamp';
    return 'string';
  }
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'bigint':
      return integerKind(v as bigint);
    case 'string':
      return isTimestamp(v) ? 'timestamp' : 'string';
    case 'object':
      return 'json';
    default:
      return 'string';
  }
}

function widen(a: Kind, b: Kind): Kind {
  if (a === b || b === 'null') return a;
  if (a === 'null') return b;
  if (a === 'json' || b === 'json') return 'json';
  if ((a === 'int' && b === 'float') || (a === 'float' && b === 'int')) return 'float';
  if ((a === 'int' && b === 'bigint') || (a === 'bigint' && b === 'int')) return 'bigint';
  return 'string';
}

const TO_TYPE: Record<Kind, InferredType> = {
  null: 'utf8',
  bool: 'bool',
  int: 'int64',
  bigint: 'decimal(38,0)',
  float: 'float64',
  timestamp: 'timestamp',
  string: 'utf8',
  json: 'json',
};

export interface InferredColumn {
  name: string;
  type: InferredType;
}

/** Infers columns from sample rows; with `text`, values are strings from a text format. */
export function inferColumns(rows: Iterable<Record<string, unknown>>, text = false): InferredColumn[] {
  const kinds = new Map<string, Kind>();
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) {
      const prior = kinds.get(k);
      const kind = kindOf(v, text);
      kinds.set(k, prior === undefined ? kind : widen(prior, kind));
    }
  }
  return [...kinds].map(([name, kind]) => ({ name, type: TO_TYPE[kind] }));
}
