/**
 * The final step of a bulk replace (docs/postgresql.md, "Bulk replace"): after a successful sync,
 * a table whose rows were staged (`staging.ts`) gets, in one transaction, exactly what upserting
 * them and deleting the stale rows would leave — this sync's rows (the last row of a key wins)
 * plus the rows the delete-stale would keep that this sync did not overwrite. Writers are locked
 * out (readers are not) while the rows to keep are set aside; then, under the exclusive lock, the
 * table is truncated (same OID, grants, comments, triggers, dependent views), the indexes that can
 * be rebuilt exactly are dropped, the rows inserted, and those indexes built again by sorting.
 * A table that cannot be truncated safely (foreign keys pointing at it, user triggers, row-level
 * security, inheritance, no TRUNCATE privilege) is merged instead: an upsert from the staging
 * table and the delete-stale, in one transaction.
 */
import type pg from 'pg';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME } from '../../lib/schema.js';
import { quoteIdent } from './catalog.js';
import { STAGE_ORD, dropStaging, type Stage } from './staging.js';
import { upsertFromStaging } from './upsert.js';

/** the delete-stale of this sync: `_cq_source_name = $1 AND _cq_sync_time < $2` */
export interface StaleRule {
  sourceName: string;
  syncTime: Date;
}

/** true for a row the delete-stale would delete ($1 source name, $2 sync time) */
const STALE = `coalesce(${quoteIdent(CQ_SOURCE_NAME)} = $1 AND ${quoteIdent(CQ_SYNC_TIME)} < $2::timestamptz, false)`;

/** an index dropped before the load and built again after it */
interface Rebuilt {
  drop: string;
  create: string;
}

/** why the table is merged rather than truncated, or undefined when it can be truncated */
async function mergeReason(client: pg.Client, qualified: string): Promise<string | undefined> {
  const r = await client.query<{ reason: string | null }>(
    `SELECT CASE
       WHEN c.relkind <> 'r' THEN 'not a plain table'
       WHEN c.relrowsecurity THEN 'row-level security'
       WHEN NOT has_table_privilege(c.oid, 'TRUNCATE') THEN 'no TRUNCATE privilege'
       WHEN EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid AND f.contype = 'f') THEN 'foreign keys reference it'
       WHEN EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal) THEN 'it has triggers'
       WHEN EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = c.oid OR h.inhrelid = c.oid) THEN 'inheritance'
     END AS reason FROM pg_class c WHERE c.oid = $1::regclass`,
    [qualified],
  );
  return r.rows[0]?.reason ?? undefined;
}

/**
 * Indexes that can be dropped and built again exactly (same name and definition): valid, in the
 * default tablespace, without comment, clustering, replica identity, statistics targets or objects
 * depending on them; none when this role does not own the table.
 */
async function rebuildableIndexes(client: pg.Client, qualified: string): Promise<Rebuilt[]> {
  const r = await client.query<{ index: string; conname: string | null; indexdef: string; condef: string | null }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname) AS index, con.conname, pg_get_indexdef(i.indexrelid) AS indexdef,
            CASE WHEN con.oid IS NOT NULL THEN pg_get_constraintdef(con.oid) END AS condef
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
       JOIN pg_class t ON t.oid = i.indrelid
       LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
      WHERE i.indrelid = $1::regclass AND pg_has_role(t.relowner, 'USAGE')
        AND i.indisvalid AND i.indisready AND i.indislive AND NOT i.indisclustered AND NOT i.indisreplident
        AND ic.reltablespace = 0 AND obj_description(ic.oid, 'pg_class') IS NULL
        AND (con.oid IS NULL OR (con.conname = ic.relname AND con.conislocal AND con.coninhcount = 0
             AND obj_description(con.oid, 'pg_constraint') IS NULL))
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
        AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND coalesce(a.attstattarget::int, -1) >= 0)
      ORDER BY con.contype NULLS LAST, ic.relname`,
    [qualified],
  );
  return r.rows.map((x) =>
    x.conname !== null && x.condef !== null
      ? {
          drop: `ALTER TABLE ${qualified} DROP CONSTRAINT ${quoteIdent(x.conname)}`,
          create: `ALTER TABLE ${qualified} ADD CONSTRAINT ${quoteIdent(x.conname)} ${x.condef}`,
        }
      : { drop: `DROP INDEX ${x.index}`, create: x.indexdef },
  );
}

/** the delete-stale keeps the row ($1 source name, $2 sync time): `NOT STALE` as five conditions an index on the two columns answers */
const KEEPS = [
  `${quoteIdent(CQ_SOURCE_NAME)} < $1`,
  `${quoteIdent(CQ_SOURCE_NAME)} > $1`,
  `${quoteIdent(CQ_SOURCE_NAME)} IS NULL`,
  `${quoteIdent(CQ_SOURCE_NAME)} = $1 AND ${quoteIdent(CQ_SYNC_TIME)} >= $2::timestamptz`,
  `${quoteIdent(CQ_SOURCE_NAME)} = $1 AND ${quoteIdent(CQ_SYNC_TIME)} IS NULL`,
];

/** the table has a btree index on (`_cq_source_name`, `_cq_sync_time`, …): the one it is created with (`<table>_cqpi`) */
async function hasKeepIndex(client: pg.Client, qualified: string): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
        WHERE i.indrelid = $1::regclass AND am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL AND i.indnkeyatts >= 2
          AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2)
          AND i.indkey[1] = (SELECT attnum FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $3)
          AND i.indcollation[0] = (SELECT attcollation FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2)) AS ok`,
    [qualified, CQ_SOURCE_NAME, CQ_SYNC_TIME],
  );
  return r.rows[0]?.ok === true;
}

/** run `fn` with the planner told to use an index (it may not, when the table has no statistics yet) */
async function withoutSeqScan<R>(client: pg.Client, fn: () => Promise<R>): Promise<R> {
  const prev = await client.query<{ v: string }>(`SELECT current_setting('enable_seqscan') AS v`);
  await client.query('SET LOCAL enable_seqscan = off');
  const r = await fn();
  await client.query(`SELECT set_config('enable_seqscan', $1, true)`, [prev.rows[0]!.v]);
  return r;
}

/**
 * Set aside in the temporary table `cq_keep` the rows the delete-stale keeps whose key this sync
 * did not write (it overwrote those); how many. With the (`_cq_source_name`, `_cq_sync_time`) index,
 * five probes of it first: usually the table holds only this source's rows, all older than this
 * sync, and nothing is read; otherwise only the kept rows are (a bitmap scan). Without the index,
 * a scan of the table.
 */
async function setAside(client: pg.Client, s: Stage, all: string, params: string[]): Promise<number> {
  const byIndex = await hasKeepIndex(client, s.qualified);
  const keeps = byIndex ? KEEPS.map((k) => `(${k})`).join(' OR ') : `NOT ${STALE}`;
  const select = `SELECT ${all} FROM ONLY ${s.qualified} WHERE ${keeps}`;
  if (byIndex) {
    const probe = `SELECT ${KEEPS.map((k) => `EXISTS (SELECT 1 FROM ONLY ${s.qualified} WHERE ${k})`).join(' OR ')} AS found`;
    const r = await withoutSeqScan(client, () => client.query<{ found: boolean }>(probe, params));
    if (!r.rows[0]!.found) return 0;
  }
  await client.query(`CREATE TEMP TABLE cq_keep (LIKE ${s.qualified}) ON COMMIT DROP`);
  const insert = () => client.query(`INSERT INTO cq_keep (${all}) ${select}`, params);
  const kept = (byIndex ? await withoutSeqScan(client, insert) : await insert()).rowCount ?? 0;
  if (kept) {
    const on = s.pk.map((k) => `k.${quoteIdent(k)} = s.${quoteIdent(k)}`).join(' AND ');
    await client.query(`DELETE FROM cq_keep k USING ${s.staging} s WHERE ${on}`);
  }
  return kept;
}

/** the table's columns an INSERT can name (not generated, not dropped), quoted */
async function insertableColumns(client: pg.Client, qualified: string): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attnum`,
    [qualified],
  );
  return r.rows.map((x) => quoteIdent(x.name));
}

/** the staged columns (without the ordinal), quoted */
function stagedColumns(s: Stage): string[] {
  return s.columns.filter((c) => c.name !== STAGE_ORD).map((c) => quoteIdent(c.name));
}

/** INSERT this sync's rows from the staging table, without the stale ones; `dedupe`: the last row of a key only */
function insertStagedSql(s: Stage, dedupe: boolean): string {
  const cols = stagedColumns(s).join(', ');
  const pk = s.pk.map(quoteIdent).join(', ');
  const from = dedupe ? `(SELECT DISTINCT ON (${pk}) * FROM ${s.staging} ORDER BY ${pk}, ${quoteIdent(STAGE_ORD)} DESC) d` : s.staging;
  return `INSERT INTO ${s.qualified} (${cols}) SELECT ${cols} FROM ${from} WHERE NOT ${STALE}`;
}

export type ReplaceOutcome = { how: 'replaced'; indexesRebuilt: number } | { how: 'merged'; reason: string };

/**
 * Replace the table's rows from the staging table and drop it, in one transaction (the caller
 * retries transient errors: a failed attempt changes nothing).
 */
export async function bulkReplace(client: pg.Client, s: Stage, rule: StaleRule): Promise<ReplaceOutcome> {
  const params = [rule.sourceName, rule.syncTime.toISOString()];
  await client.query('BEGIN');
  try {
    // writers wait from here (readers do not); two cq-pipe processes take this lock one after the other
    await client.query(`LOCK TABLE ${s.qualified} IN SHARE ROW EXCLUSIVE MODE`);
    const reason = await mergeReason(client, s.qualified);
    let outcome: ReplaceOutcome;
    if (reason) {
      await mergeStaged(client, s);
      await client.query(`DELETE FROM ${s.qualified} WHERE ${STALE}`, params);
      outcome = { how: 'merged', reason };
    } else {
      const all = (await insertableColumns(client, s.qualified)).join(', ');
      const kept = await setAside(client, s, all, params);
      await client.query(`LOCK TABLE ${s.qualified} IN ACCESS EXCLUSIVE MODE`);
      const indexes = await rebuildableIndexes(client, s.qualified);
      await client.query(`TRUNCATE ONLY ${s.qualified}`);
      for (const i of indexes) await client.query(i.drop);
      const load = async (dedupe: boolean) => {
        if (kept) await client.query(`INSERT INTO ${s.qualified} (${all}) OVERRIDING SYSTEM VALUE SELECT ${all} FROM cq_keep`);
        await client.query(insertStagedSql(s, dedupe), params);
        for (const i of indexes) await client.query(i.create);
      };
      await client.query('SAVEPOINT cq_replace');
      try {
        await load(false);
      } catch (err) {
        // a key twice among this sync's rows (or a unique value taken): again with the last row per key
        if ((err as { code?: string }).code !== '23505') throw err;
        await client.query('ROLLBACK TO SAVEPOINT cq_replace');
        await load(true);
      }
      await client.query('RELEASE SAVEPOINT cq_replace');
      outcome = { how: 'replaced', indexesRebuilt: indexes.length };
    }
    await dropStaging(client, s);
    await client.query('COMMIT');
    return outcome;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** upsert the staged rows into the table (the last row of a key wins), inside the caller's transaction */
export async function mergeStaged(client: pg.Client, s: Stage): Promise<void> {
  const columns = s.columns.filter((c) => c.name !== STAGE_ORD);
  await upsertFromStaging(client, { qualified: s.qualified, staging: s.staging, columns, extra: s.extra, pk: s.pk, order: `${quoteIdent(STAGE_ORD)} DESC` });
}

/** upsert the staged rows and drop the staging table, in one transaction (no delete-stale follows) */
export async function mergeAndDrop(client: pg.Client, s: Stage): Promise<void> {
  await client.query('BEGIN');
  try {
    await mergeStaged(client, s);
    await dropStaging(client, s);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
