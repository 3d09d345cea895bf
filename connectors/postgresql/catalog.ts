/** What a Postgres schema holds: tables, columns, keys, unique constraints, indexes, dependent views. */
import type pg from 'pg';

export interface ExistingColumn {
  name: string;
  /** format_type() text, e.g. "bigint", "numeric(10,2)", "text[]" */
  type: string;
  notNull: boolean;
}

export interface ExistingTable {
  name: string;
  columns: Map<string, ExistingColumn>;
  pk: string[];
  pkConstraint?: string;
  /** single-column unique constraints: column → constraint name */
  uniques: Map<string, string>;
  indexes: Set<string>;
}

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** Postgres truncates identifiers to 63 bytes; do the same so names compare. */
export function pgIdent(s: string): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= 63) return s;
  let end = 63;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

export async function readTables(client: pg.ClientBase, schema: string, names: string[]): Promise<Map<string, ExistingTable>> {
  const out = new Map<string, ExistingTable>();
  if (names.length === 0) return out;
  const cols = await client.query<{ table: string; column: string; type: string; not_null: boolean }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY c.relname, a.attnum`,
    [schema, names],
  );
  for (const r of cols.rows) {
    let t = out.get(r.table);
    if (!t) out.set(r.table, (t = { name: r.table, columns: new Map(), pk: [], uniques: new Map(), indexes: new Set() }));
    t.columns.set(r.column, { name: r.column, type: r.type, notNull: r.not_null });
  }
  const cons = await client.query<{ table: string; name: string; kind: string; cols: string[] }>(
    `SELECT c.relname AS table, con.conname AS name, con.contype AS kind,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, ord)
                    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.ord) AS cols
       FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2) AND con.contype IN ('p', 'u')`,
    [schema, names],
  );
  for (const r of cons.rows) {
    const t = out.get(r.table);
    if (!t) continue;
    if (r.kind === 'p') {
      t.pk = r.cols;
      t.pkConstraint = r.name;
    } else if (r.cols.length === 1) t.uniques.set(r.cols[0]!, r.name);
  }
  const idx = await client.query<{ table: string; name: string }>(
    'SELECT tablename AS table, indexname AS name FROM pg_indexes WHERE schemaname = $1 AND tablename = ANY($2)',
    [schema, names],
  );
  for (const r of idx.rows) out.get(r.table)?.indexes.add(r.name);
  return out;
}

/** views (and materialized views) that depend on a table */
export async function dependentViews(client: pg.ClientBase, schema: string, table: string): Promise<string[]> {
  const r = await client.query<{ view: string }>(
    `SELECT DISTINCT vn.nspname || '.' || v.relname AS view
       FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class v ON v.oid = rw.ev_class
       JOIN pg_namespace vn ON vn.oid = v.relnamespace
      WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1::regclass AND v.oid <> d.refobjid
      ORDER BY 1`,
    [`${quoteIdent(schema)}.${quoteIdent(table)}`],
  );
  return r.rows.map((x) => x.view);
}
