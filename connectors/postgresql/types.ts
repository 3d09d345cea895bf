/**
 * Arrow field ⇄ Postgres column type (docs/postgresql.md, "Type mapping").
 *
 * Names are those `format_type()` prints, so a planned type compares directly with the catalog.
 * Widening (`widensTo`) says which existing column types hold a new Arrow type without loss: the
 * migration then keeps (or widens to) the column, and the COPY encoder writes into its type.
 */
import * as A from 'apache-arrow';
import { extensionOf } from '../../lib/types.js';

/** Postgres type name (format_type style) for an Arrow field. */
export function pgTypeOf(field: A.Field): string {
  const ext = extensionOf(field);
  if (ext === 'uuid') return 'uuid';
  if (ext === 'json') return 'jsonb';
  if (ext === 'inet') return 'inet';
  return pgTypeOfType(field.type);
}

function pgTypeOfType(t: A.DataType): string {
  switch (t.typeId) {
    case A.Type.Bool:
      return 'boolean';
    case A.Type.Int: {
      const it = t as A.Int;
      if (it.isSigned) return it.bitWidth <= 16 ? 'smallint' : it.bitWidth === 32 ? 'integer' : 'bigint';
      return it.bitWidth <= 8 ? 'smallint' : it.bitWidth === 16 ? 'integer' : it.bitWidth === 32 ? 'bigint' : 'numeric(20,0)';
    }
    case A.Type.Float:
      return (t as A.Float).precision === A.Precision.DOUBLE ? 'double precision' : 'real';
    case A.Type.Decimal:
      return `numeric(${(t as A.Decimal).precision},${(t as A.Decimal).scale})`;
    case A.Type.Utf8:
    case A.Type.LargeUtf8:
      return 'text';
    case A.Type.Binary:
    case A.Type.LargeBinary:
    case A.Type.FixedSizeBinary:
      return 'bytea';
    case A.Type.Date:
      return 'date';
    case A.Type.Time:
      return 'time without time zone';
    case A.Type.Timestamp:
      return 'timestamp with time zone';
    case A.Type.Struct:
      return 'jsonb';
    case A.Type.List: {
      const child = (t as A.List).children[0]!;
      const inner = pgTypeOf(child);
      return inner.endsWith('[]') || inner === 'jsonb' ? 'jsonb' : `${inner}[]`;
    }
    default:
      return 'text';
  }
}

const INT_RANK: Record<string, number> = { smallint: 1, integer: 2, bigint: 3 };

/** numeric(P,S) → [P,S]; plain numeric → [Infinity, Infinity] */
function numericParts(t: string): [number, number] | undefined {
  if (t === 'numeric') return [Infinity, Infinity];
  const m = /^numeric\((\d+),(\d+)\)$/.exec(t);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Can a column of type `existing` hold every value of type `wanted` without loss?
 * (same type, a wider integer, double for real, numeric wide enough for an integer or decimal).
 */
export function holds(existing: string, wanted: string): boolean {
  if (existing === wanted) return true;
  const ei = INT_RANK[existing];
  const wi = INT_RANK[wanted];
  if (ei && wi) return ei >= wi;
  if (existing === 'double precision' && wanted === 'real') return true;
  const en = numericParts(existing);
  // plain numeric holds any integer or decimal
  if (en && existing === 'numeric') return Boolean(wi || numericParts(wanted));
  if (en) {
    const [p, s] = en;
    if (wi) return p - s >= [0, 5, 10, 19][wi]!;
    const wn = numericParts(wanted);
    if (wn) return s >= wn[1] && p - s >= wn[0] - wn[1];
  }
  return false;
}

/**
 * The one table of compatible column types (docs/postgresql.md, "Compatible column types"): an
 * existing column of the key's type takes values of the listed wanted types without loss, so the
 * table is adopted as it is (no ALTER, no drop) and the encoder writes into the existing type.
 * CloudQuery's Postgres destination creates the left-hand types.
 */
export const TAKES: Readonly<Record<string, readonly string[]>> = {
  // µs since the epoch in UTC either way; the session time zone is UTC
  'timestamp without time zone': ['timestamp with time zone'],
  // JSON text (json, structs, nested lists), IP addresses as text
  text: ['jsonb', 'inet'],
  'character varying': ['text', 'jsonb', 'inet'],
  json: ['jsonb'],
};

/**
 * Can an existing column of type `existing` take every value of `field` without loss? The same
 * type, a wider number (`holds`), a pair of `TAKES`, or an array whose element type takes the
 * list's element field.
 */
export function takes(existing: string, field: A.Field): boolean {
  const wanted = pgTypeOf(field);
  if (holds(existing, wanted) || TAKES[existing]?.includes(wanted)) return true;
  if (existing.endsWith('[]') && field.type.typeId === A.Type.List) return takes(existing.slice(0, -2), (field.type as A.List).children[0]!);
  return false;
}

/** Lossless in-place widening Postgres can do with ALTER COLUMN … TYPE (docs/semantics.md). */
export function canWiden(existing: string, wanted: string): boolean {
  const ei = INT_RANK[existing];
  const wi = INT_RANK[wanted];
  if (ei && wi) return wi > ei;
  if (existing === 'real' && wanted === 'double precision') return true;
  const wn = numericParts(wanted);
  if (wn && ei) return wn[0] - wn[1] >= [0, 5, 10, 19][ei]!;
  const en = numericParts(existing);
  if (en && wn) return wn[1] >= en[1] && wn[0] - wn[1] >= en[0] - en[1];
  return false;
}

/** Element type OIDs for binary arrays. */
export const ELEMENT_OID: Record<string, number> = {
  boolean: 16,
  bytea: 17,
  bigint: 20,
  smallint: 21,
  integer: 23,
  text: 25,
  real: 700,
  'double precision': 701,
  inet: 869,
  date: 1082,
  'time without time zone': 1083,
  'timestamp without time zone': 1114,
  'timestamp with time zone': 1184,
  json: 114,
  'character varying': 1043,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
};

export function baseType(t: string): string {
  return t.startsWith('numeric') ? 'numeric' : t;
}
