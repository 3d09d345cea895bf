/**
 * Staging tables of the bulk replace (docs/postgresql.md, "Bulk replace"): the rows of a table read
 * in full in `overwrite-delete-stale` are COPYed into an unlogged, index-free table next to it,
 * committed in chunks, so a reconnect replays only the last chunk; the final step
 * (`bulk-replace.ts`) then replaces the table's content from it. A staged row carries an ordinal
 * (`_cq_stage_ord`, the order it was written in), so that the last row of a key wins.
 */
import { createHash } from 'node:crypto';
import * as A from 'apache-arrow';
import type pg from 'pg';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME } from '../../lib/schema.js';
import { pgIdent, quoteIdent } from './catalog.js';
import type { CopyColumn } from './copy-load.js';

/** the staging table's ordinal column: the order rows were written in (the last row of a key wins) */
export const STAGE_ORD = '_cq_stage_ord';
/** a staged load commits at this much uncommitted Arrow memory: the replay buffer of a staged table */
export const STAGE_CHUNK_BYTES = 16 * 1024 * 1024;

const ORD_FIELD = new A.Field(STAGE_ORD, new A.Int64(), false);

/** One table's staged rows in this sync. */
export interface Stage {
  /** the sync's table name */
  cqName: string;
  /** the table, quoted and schema-qualified */
  qualified: string;
  /** the staging table, quoted and schema-qualified */
  staging: string;
  /** `_cq_source_name` of the staged rows (from the first row), part of the staging table's name */
  sourceName: string;
  /** columns staged (the batches' columns, then the ordinal) */
  columns: CopyColumn[];
  pk: string[];
  /** columns the table has and the batches lack (set to NULL when merged) */
  extra: string[];
  /**
   * `new`: the staging table is (re)created when a load opens (a leftover of a killed run is
   * dropped); `created`: in the open transaction; `ready`: committed
   */
  state: 'new' | 'created' | 'ready';
  /** rows committed into the staging table, and rows written in the open transaction */
  committedRows: number;
  pendingRows: number;
  /** the next ordinal */
  ord: bigint;
  /** the session reconnected since the staging table was committed: count its rows before using them */
  verify: boolean;
}

/**
 * The staging table of `table` for rows of `sourceName`, in the table's schema: one name per table
 * and source name, so a run killed before its end leaves at most one, which the next run of that
 * source drops.
 */
export function stagingTableName(table: string, sourceName: string): string {
  const h = createHash('sha256').update(`${table}\0${sourceName}`).digest('hex').slice(0, 16);
  return pgIdent(`_cq_stage_${h}_${table}`);
}

/** the source name of a batch's first row, when it has the reserved columns to replace by */
export function stagedSourceName(batch: A.RecordBatch): string | undefined {
  if (!batch.schema.fields.some((f) => f.name === CQ_SYNC_TIME)) return undefined;
  const v = batch.getChild(CQ_SOURCE_NAME)?.get(0);
  return typeof v === 'string' ? v : undefined;
}

export function newStage(o: {
  cqName: string;
  schema: string;
  table: string;
  qualified: string;
  sourceName: string;
  columns: CopyColumn[];
  pk: string[];
  extra: string[];
}): Stage {
  const staging = `${quoteIdent(o.schema)}.${quoteIdent(stagingTableName(o.table, o.sourceName))}`;
  const columns = [...o.columns, { field: ORD_FIELD, name: STAGE_ORD, pgType: 'bigint' }];
  return {
    cqName: o.cqName,
    qualified: o.qualified,
    staging,
    sourceName: o.sourceName,
    columns,
    pk: o.pk,
    extra: o.extra,
    state: 'new',
    committedRows: 0,
    pendingRows: 0,
    ord: 0n,
    verify: false,
  };
}

/**
 * Create the staging table (inside the load's transaction) unless a committed one exists: a
 * leftover of a killed run of the same source is dropped first.
 */
export async function openStaging(client: pg.ClientBase, s: Stage): Promise<void> {
  if (s.state !== 'new') return;
  await client.query(`DROP TABLE IF EXISTS ${s.staging}`);
  await client.query(`CREATE UNLOGGED TABLE ${s.staging} (LIKE ${s.qualified}, ${quoteIdent(STAGE_ORD)} bigint) WITH (autovacuum_enabled = false)`);
  s.state = 'created';
}

/** the open transaction committed: what it staged is kept */
export function stageCommitted(s: Stage): void {
  if (s.state === 'created') s.state = 'ready';
  s.committedRows += s.pendingRows;
  s.pendingRows = 0;
}

/** the open transaction was rolled back (`reconnected`: on a new connection): its rows are written again by the replay */
export function stageRolledBack(s: Stage, reconnected: boolean): void {
  if (s.state === 'created') s.state = 'new';
  s.pendingRows = 0;
  if (reconnected && s.state === 'ready') s.verify = true;
}

/** `batch` with the ordinal column appended (zero-copy for the other columns) */
export function withOrdinals(s: Stage, batch: A.RecordBatch): A.RecordBatch {
  const n = batch.numRows;
  const ords = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ords[i] = s.ord + BigInt(i);
  s.ord += BigInt(n);
  const ord = A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: ords });
  const fields = [...batch.schema.fields, ORD_FIELD];
  return new A.RecordBatch(
    new A.Schema(fields, batch.schema.metadata),
    A.makeData({ type: new A.Struct(fields), length: n, nullCount: 0, children: [...batch.data.children, ord] }),
  );
}

/** the staging table still holds every committed row (a server crash empties unlogged tables); false when it is gone */
export async function stagingIntact(client: pg.ClientBase, s: Stage): Promise<boolean | 'missing'> {
  const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [s.staging]);
  if (!exists.rows[0]?.ok) return 'missing';
  const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${s.staging}`);
  return Number(r.rows[0]!.n) === s.committedRows;
}

export async function dropStaging(client: pg.ClientBase, s: Stage): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${s.staging}`);
}
