/**
 * Schema inference for row formats (NDJSON, JSON, CSV) from a sample of rows.
 *
 * Per column the observed kinds widen along null → bool | int → float → string; a timestamp column
 * is one whose every sampled value is an ISO-8601 date-time string; objects and arrays make a json
 * column. Columns appear in first-seen order and are nullable unless they are primary keys.
 * In text formats (CSV) every cell is a string, so the kinds are read from the text.
 */
import { toMicros } from './time.js';

export type InferredType = 'bool' | 'int64' | 'float64' | 'utf8' | 'timestamp' | 'json';

type Kind = 'null' | 'bool' | 'int' | 'float' | 'timestamp' | 'string' | 'json';

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
    if (INT_RE.test(s)) return Number.isSafeInteger(Number(s)) ? 'int' : 'string';
    if (FLOAT_RE.test(s)) return 'float';
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
      return 'int';
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
  return 'string';
}

const TO_TYPE: Record<Kind, InferredType> = {
  null: 'utf8',
  bool: 'bool',
  int: 'int64',
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
