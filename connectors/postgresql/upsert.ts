/**
 * Upserts of the `postgresql` destination (see docs/postgresql.md, "Loading"): rows of a table with
 * a primary key are COPYed into a per-session temporary staging table shaped like it
 * (`ON COMMIT DELETE ROWS`), then `INSERT … SELECT … ON CONFLICT (pk) DO UPDATE` sets every column;
 * columns the batches lack are set to NULL. Duplicate keys among the staged rows: the last row
 * wins, retried with `DISTINCT ON … ORDER BY ctid DESC` only when Postgres reports the conflict.
 */
import type pg from 'pg';
import { pgIdent, quoteIdent } from './catalog.js';

/** what an upsert needs to know of a table (all names as in the database, unquoted unless said) */
export interface UpsertTable {
  /** the table's name, quoted and schema-qualified */
  qualified: string;
  /** the staging table's name, quoted (see `stagingName`) */
  staging: string;
  /** the columns the batches carry */
  columns: readonly { name: string }[];
  /** columns the table has and the batches lack */
  extra: readonly string[];
  pk: readonly string[];
  /** the order of the staged rows, latest first, for the last row of a key to win (default `ctid DESC`) */
  order?: string;
}

/** the (quoted) name of the session's staging table for `table` */
export function stagingName(table: string): string {
  return quoteIdent(pgIdent(`cq_stage_${table}`));
}

/** create the staging table if this session has none yet (inside the load's transaction) */
export async function createStaging(client: pg.Client, t: UpsertTable): Promise<void> {
  await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${t.staging} (LIKE ${t.qualified}) ON COMMIT DELETE ROWS`);
}

export function upsertSql(t: UpsertTable, dedupe: boolean): string {
  const cols = t.columns.map((c) => quoteIdent(c.name));
  const pk = t.pk.map(quoteIdent);
  const sets = [
    ...t.columns.filter((c) => !t.pk.includes(c.name)).map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`),
    ...t.extra.map((c) => `${quoteIdent(c)} = NULL`),
  ];
  const select = dedupe
    ? `SELECT DISTINCT ON (${pk.join(', ')}) ${cols.join(', ')} FROM ${t.staging} ORDER BY ${pk.join(', ')}, ${t.order ?? 'ctid DESC'}`
    : `SELECT ${cols.join(', ')} FROM ${t.staging}`;
  const action = sets.length ? `UPDATE SET ${sets.join(', ')}` : 'NOTHING';
  return `INSERT INTO ${t.qualified} (${cols.join(', ')}) ${select} ON CONFLICT (${pk.join(', ')}) DO ${action}`;
}

/** upsert the staged rows into the table (inside the load's transaction) */
export async function upsertFromStaging(client: pg.Client, t: UpsertTable): Promise<void> {
  await client.query('SAVEPOINT cq_upsert');
  try {
    await client.query(upsertSql(t, false));
  } catch (err) {
    // duplicate keys among the staged rows: the last row wins
    if ((err as { code?: string }).code !== '21000') throw err;
    await client.query('ROLLBACK TO SAVEPOINT cq_upsert');
    await client.query(upsertSql(t, true));
  }
  await client.query('RELEASE SAVEPOINT cq_upsert');
}

/** empty the staging table for the next load in the same transaction */
export async function clearStaging(client: pg.Client, t: UpsertTable): Promise<void> {
  await client.query(`TRUNCATE ${t.staging}`);
}
