/**
 * A source's delete-record in Postgres (docs/postgresql.md, "Deleting records"): one statement, as
 * CloudQuery's destination builds it (`generateDeleteCTE`) — a data-modifying CTE deletes the
 * table's matching rows (groups ANDed, a group's predicates joined by its grouping, no group: every
 * row) and returns their `_cq_id`; a CTE per relation deletes the child rows whose `_cq_parent_id`
 * is one of them, down the chain (the relations put in cascade order first). Every value is a
 * bound parameter — its exact text from the Arrow value (int64 past 2^53, µs timestamps, uuids,
 * json, decimals), cast to the column's type in the database — and every name a quoted identifier.
 * A relation table that does not exist here (or has no `_cq_parent_id`) deletes nothing.
 */
import type * as A from 'apache-arrow';
import type pg from 'pg';
import { renderData } from '../../lib/arrow-json.js';
import { DestinationWriteError, tableFailure } from '../../lib/errors.js';
import type { DeleteRecordMessage, Predicate } from '../../lib/messages.js';
import { CQ_ID, CQ_PARENT_ID } from '../../lib/schema.js';
import { inCascadeOrder } from '../../lib/delete-record.js';
import { pgIdent, quoteIdent } from './catalog.js';

export interface DeleteRecordStatement {
  text: string;
  values: (string | null)[];
  /** the tables of the CTEs, in order (the root first) */
  tables: string[];
  /** relations left out: their table does not exist here, or has no `_cq_parent_id`, or their parent was left out */
  skipped: string[];
  /** a CTE statement whose one row counts the rows deleted per table (else a plain DELETE) */
  counted: boolean;
}

/** each table's columns with their base type (`format_type` without typmod: a cast never truncates the value) */
export async function columnTypes(client: pg.ClientBase, schema: string, tables: string[]): Promise<Map<string, Map<string, string>>> {
  const r = await client.query<{ table: string; column: string; type: string }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, NULL) AS type
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY($2) AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, tables],
  );
  const out = new Map<string, Map<string, string>>();
  for (const row of r.rows) {
    let t = out.get(row.table);
    if (!t) out.set(row.table, (t = new Map()));
    t.set(row.column, row.type);
  }
  return out;
}

/** the exact text of a predicate's value (null for a null), as the NDJSON/CSV renderers write it */
export function valueText(p: Predicate): string | null {
  const field = p.value.schema.fields[0]!;
  const data = p.value.data.children[0] as A.Data;
  if (data.length < 1 || !data.getValid(0)) return null;
  const r = renderData(data, field, 'csv');
  const text = Buffer.from(r.bytes.buffer, r.bytes.byteOffset + r.offsets[0]!, r.offsets[1]! - r.offsets[0]!).toString('utf8');
  // CSV quoting (a value holding a comma, quote or line break): undo it
  return text.startsWith('"') && text.endsWith('"') && text.length >= 2 ? text.slice(1, -1).replace(/""/g, '"') : text;
}

/** `$n` as a value of the column's type: bytea from base64, arrays from the JSON array text, the rest by a cast */
function castParam(n: number, pgType: string): string {
  if (pgType === 'bytea') return `decode($${n}, 'base64')`;
  if (pgType.endsWith('[]')) return `ARRAY(SELECT jsonb_array_elements_text($${n}::jsonb))::${pgType}`;
  return `$${n}::${pgType}`;
}

/**
 * The statement of `msg`; `types` holds the columns of the tables (by Postgres name). The root
 * table or a predicate column missing is an error of that table.
 */
export function deleteRecordStatement(
  schema: string,
  msg: DeleteRecordMessage,
  types: Map<string, Map<string, string>>,
  connector: string,
): DeleteRecordStatement {
  const qualified = (t: string) => `${quoteIdent(schema)}.${quoteIdent(pgIdent(t))}`;
  const fail = (why: string, column?: string) =>
    tableFailure(new DestinationWriteError(`delete-record for table ${msg.table}: ${why}`, { connector, table: msg.table, column, phase: 'delete-record' }));
  const root = types.get(pgIdent(msg.table));
  if (!root) throw fail(`table ${schema}.${pgIdent(msg.table)} does not exist`);
  const values: (string | null)[] = [];
  const groups: string[] = [];
  for (const g of msg.where) {
    if (!g.predicates.length) continue;
    const preds = g.predicates.map((p) => {
      const pgType = root.get(pgIdent(p.column));
      if (!pgType) throw fail(`table ${schema}.${pgIdent(msg.table)} has no column "${p.column}"`, p.column);
      values.push(valueText(p));
      // `json` has no equality operator: compared as jsonb (as a jsonb column is)
      if (pgType === 'json') return `${quoteIdent(pgIdent(p.column))}::jsonb = $${values.length}::jsonb`;
      return `${quoteIdent(pgIdent(p.column))} = ${castParam(values.length, pgType)}`;
    });
    groups.push(`(${preds.join(g.grouping === 'and' ? ' AND ' : ' OR ')})`);
  }
  const where = groups.length ? ` WHERE ${groups.join(' AND ')}` : '';
  const whole = `DELETE FROM ${qualified(msg.table)}${where}`;
  if (!msg.relations.length) return { text: whole, values, tables: [msg.table], skipped: [], counted: false };
  // CTE names are positional (d0, d1, …): table names may be long or repeat; each returns the ids its children look up
  const returning = (cols: Map<string, string>) => ` RETURNING ${cols.has(CQ_ID) ? '' : `NULL::uuid AS `}${quoteIdent(CQ_ID)}`;
  const cte = new Map<string, string>([[msg.table, 'd0']]);
  const ctes = [`d0 AS (${whole}${returning(root)})`];
  const tables = [msg.table];
  const skipped: string[] = [];
  for (const r of msg.relations) {
    const cols = types.get(pgIdent(r.table));
    const parent = cte.get(r.parent);
    if (!cols?.has(CQ_PARENT_ID) || parent === undefined) {
      skipped.push(r.table);
      continue;
    }
    const name = `d${tables.length}`;
    ctes.push(
      `${name} AS (DELETE FROM ${qualified(r.table)} WHERE ${quoteIdent(CQ_PARENT_ID)} IN (SELECT ${quoteIdent(CQ_ID)} FROM ${parent})${returning(cols)})`,
    );
    cte.set(r.table, name);
    tables.push(r.table);
  }
  const counts = tables.map((_, i) => `(SELECT count(*) FROM d${i}) AS n${i}`);
  return { text: `WITH ${ctes.join(', ')} SELECT ${counts.join(', ')}`, values, tables, skipped, counted: true };
}

/**
 * run `msg` (one statement: atomic on its own): the rows deleted per table (in `tables` order).
 * `known` caches the column types read from the catalog (the caller clears it when it migrates).
 */
export async function deleteRecord(
  client: pg.ClientBase,
  schema: string,
  unordered: DeleteRecordMessage,
  connector: string,
  known: Map<string, Map<string, string>> = new Map(),
): Promise<{ statement: DeleteRecordStatement; deleted: number[] }> {
  // the engine orders the relations; a caller that does not (a served plugin's Write stream) gets them ordered here
  const msg = inCascadeOrder(unordered, connector);
  const names = [...new Set([msg.table, ...msg.relations.map((r) => r.table)].map(pgIdent))];
  // a predicate column the cache lacks: the table is read again (a column added since)
  const root = known.get(pgIdent(msg.table));
  if (root && msg.where.some((g) => g.predicates.some((p) => !root.has(pgIdent(p.column))))) known.delete(pgIdent(msg.table));
  const missing = names.filter((n) => !known.has(n));
  if (missing.length) {
    const read = await columnTypes(client, schema, missing);
    // a table that does not exist is not cached: it may be created later in the sync
    for (const [t, cols] of read) known.set(t, cols);
  }
  const statement = deleteRecordStatement(schema, msg, known, connector);
  const r = await client.query({ text: statement.text, values: statement.values, rowMode: 'array' });
  const deleted = statement.counted ? (r.rows[0] as string[]).map(Number) : [r.rowCount ?? 0];
  return { statement, deleted };
}
