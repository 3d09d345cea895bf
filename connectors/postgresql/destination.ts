/**
 * The `postgresql` destination (SPEC §4): migrations under an advisory lock, binary COPY loading
 * straight from Arrow buffers, upserts through a per-session staging table in one transaction per
 * batch, delete-stale scoped to the source name, and an optional dead-letter file for rows the
 * server rejects.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as A from 'apache-arrow';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { BATCH_SPEC_PROPERTIES, defineDestination, type DestinationClient, type ConnectorContext } from '../../lib/connector.js';
import { CqPipeError, DestinationWriteError, SchemaIncompatibleError, tableFailure } from '../../lib/errors.js';
import type { DeleteStaleMessage } from '../../lib/messages.js';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME, batchByteSize, primaryKeys, tableName } from '../../lib/schema.js';
import { rowObjects } from '../memory.js';
import { pgIdent, quoteIdent, readTables } from './catalog.js';
import { COPY_HEADER, COPY_TRAILER, EncodeError, encodeBatch } from './copy-binary.js';
import { migrate } from './migrate.js';
import { MAX_RETRIES, backoffMs, isTransient } from './transient.js';
import { pgTypeOf } from './types.js';

export interface PostgresDestinationSpec {
  connection_string: string;
  schema?: string;
  dead_letter?: string;
  batch_size?: number;
  batch_size_bytes?: number;
  batch_timeout?: string | number;
}

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['connection_string'],
  properties: {
    connection_string: { type: 'string', minLength: 1 },
    schema: { type: 'string', minLength: 1, default: 'public' },
    dead_letter: { type: 'string', minLength: 1 },
    ...BATCH_SPEC_PROPERTIES,
  },
} as const;

/** rows / in-memory bytes per transaction of a streaming load before it is committed (also the replay buffer) */
const LOAD_ROWS = 100_000;
const LOAD_BYTES = 64 * 1024 * 1024;

interface OpenLoad {
  ti: TableInfo;
  stream: NodeJS.WritableStream & { destroy(err?: Error): void };
  done: Promise<void>;
  error?: Error;
  rows: number;
  staged: boolean;
  /** the trailer was sent */
  ended?: boolean;
}

interface TableInfo {
  /** the table's name in the sync (before Postgres identifier rules) */
  cqName: string;
  name: string;
  qualified: string;
  /** columns written, in batch order, with the column's type in the database */
  columns: { field: A.Field; name: string; pgType: string }[];
  /** database columns the batches lack: they receive NULL (also on upsert) */
  extra: string[];
  pk: string[];
  staging?: string;
}

/** SQLSTATE classes of errors a row causes (bad value, constraint): candidates for dead-lettering */
function isRowError(err: unknown): boolean {
  if (err instanceof EncodeError) return true;
  const code = (err as { code?: string }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** "COPY items, line 3, column id: ..." → 2 (0-based tuple index) */
function copyRow(err: unknown): number | undefined {
  const where = (err as { where?: string }).where;
  const m = where ? /COPY [^,]+, line (\d+)/.exec(where) : null;
  return m ? Number(m[1]) - 1 : undefined;
}

/**
 * Errors that belong to one table's rows or definition — a bad value, a constraint, a missing or
 * inaccessible table or column (SQLSTATE classes 22, 23, 42) — as opposed to the server or the
 * connection (disk full, out of memory, internal errors), which fail the whole sync.
 */
function isTableError(err: unknown): boolean {
  if (err instanceof EncodeError || err instanceof SchemaIncompatibleError) return true;
  const code = (err as { code?: string }).code;
  return typeof code === 'string' && /^(22|23|42)/.test(code);
}

function describePgError(err: unknown): string {
  const e = err as { message?: string; detail?: string; code?: string };
  return `${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}${e.code ? ` [SQLSTATE ${e.code}]` : ''}`;
}

export const postgresDestination = defineDestination<PostgresDestinationSpec>({
  name: 'postgresql',
  configSchema,
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10000, bytes: 100_000_000, timeoutMs: 60_000 } },
  async create(spec, ctx: ConnectorContext): Promise<DestinationClient> {
    const schema = spec.schema ?? 'public';
    const newClient = async (): Promise<pg.Client> => {
      const c = new pg.Client({ connectionString: spec.connection_string, application_name: 'cq-pipe' });
      c.on('error', (err) => ctx.logger.warn(`postgres connection error: ${err.message}`));
      try {
        await c.connect();
        await c.query("SET TIME ZONE 'UTC'");
      } catch (err) {
        await c.end().catch(() => {});
        throw err;
      }
      return c;
    };
    let client: pg.Client;
    try {
      client = await newClient();
    } catch (err) {
      throw new DestinationWriteError(`cannot connect to Postgres: ${(err as Error).message}`, { connector: ctx.name, phase: 'connect' }, err);
    }
    const infos = new Map<string, TableInfo>();
    let deadLetter: WriteStream | undefined;
    let rejected = 0;

    // --- streaming loads -------------------------------------------------------------------
    // Without a dead-letter file, consecutive batches of a table stream into one COPY inside one
    // transaction (the server works while the next batch is read and encoded); the load is
    // finished (and upserted from staging for keyed tables) and committed at checkpoints, on
    // delete-stale, at close, when another table's batch arrives, or every LOAD_ROWS rows.
    let inTx = false;
    let load: OpenLoad | undefined;

    // --- transient faults -------------------------------------------------------------------
    // The batches of the open transaction are kept until it commits. A transient error (the
    // connection dropped, the server restarting, a deadlock) rolls that transaction back on the
    // server; we reconnect with bounded exponential backoff and jitter and replay exactly those
    // batches — committed rows are never written twice, and none are skipped.
    let pending: { ti: TableInfo; batches: A.RecordBatch[] }[] = [];
    let pendingRows = 0;
    let pendingBytes = 0;

    const reconnectAndReplay = async (): Promise<void> => {
      const old = load;
      load = undefined;
      inTx = false;
      if (old && !old.error && !old.ended) old.stream.destroy(new Error('reconnecting'));
      await client.end().catch(() => {});
      client = await newClient();
      await replayPending();
    };

    /** write the batches of the open transaction again (into a new transaction) */
    const replayPending = async (): Promise<void> => {
      for (const p of pending) {
        if (load && (load as OpenLoad).ti !== p.ti) await finishLoad();
        load ??= await openLoad(p.ti);
        await writeToLoad(load, p.batches);
      }
    };

    /** run `fn`; on a transient error reconnect (replaying the open transaction) and run it again */
    const retrying = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (!isTransient(err) || attempt > MAX_RETRIES) throw err;
          const delay = backoffMs(attempt);
          ctx.logger.warn(`transient Postgres error during ${what}: ${(err as Error).message}; retry ${attempt}/${MAX_RETRIES} in ${Math.round(delay)} ms (replaying ${pendingRows} uncommitted rows)`, { phase: what });
          await new Promise((r) => setTimeout(r, delay));
          // reconnecting may itself fail while the server comes back: that counts as an attempt
          let recovered = false;
          while (!recovered) {
            try {
              await reconnectAndReplay();
              recovered = true;
            } catch (e) {
              if (!isTransient(e) || ++attempt > MAX_RETRIES) throw e;
              const d = backoffMs(attempt);
              ctx.logger.warn(`reconnecting to Postgres failed: ${(e as Error).message}; retry ${attempt}/${MAX_RETRIES} in ${Math.round(d)} ms`, { phase: what });
              await new Promise((r) => setTimeout(r, d));
            }
          }
        }
      }
    };

    const info = async (s: A.Schema): Promise<TableInfo> => {
      const name = pgIdent(tableName(s));
      const cached = infos.get(name);
      if (cached && cached.columns.length === s.fields.length && cached.columns.every((c, i) => c.field.name === s.fields[i]!.name)) return cached;
      // a query behind an open COPY would wait forever: finish the load first
      if (load) await finishLoad();
      const existing = (await readTables(client, schema, [name])).get(name);
      if (!existing) {
        throw new DestinationWriteError(`table ${schema}.${name} does not exist`, { connector: ctx.name, table: tableName(s) }, undefined);
      }
      const columns = s.fields.map((f) => {
        const col = existing.columns.get(pgIdent(f.name));
        if (!col) throw new SchemaIncompatibleError(`table ${schema}.${name} has no column "${f.name}"`, { connector: ctx.name, table: tableName(s), column: f.name }, 'run the sync without --no-migrate, or `cq-pipe migrate`');
        return { field: f, name: col.name, pgType: col.type };
      });
      const extra = [...existing.columns.keys()].filter((c) => !columns.some((x) => x.name === c));
      const ti: TableInfo = { cqName: tableName(s), name, qualified: `${quoteIdent(schema)}.${quoteIdent(name)}`, columns, extra, pk: primaryKeys(s).map(pgIdent) };
      infos.set(name, ti);
      return ti;
    };

    const copyInto = async (target: string, ti: TableInfo, batches: A.RecordBatch[]): Promise<void> => {
      const cols = ti.columns.map((c) => quoteIdent(c.name)).join(', ');
      const stream = client.query(copyFrom(`COPY ${target} (${cols}) FROM STDIN (FORMAT binary)`));
      const encoded = ti.columns.map((c) => ({ field: c.field, pgType: c.pgType }));
      function* chunks(): Generator<Buffer> {
        yield COPY_HEADER;
        for (const b of batches) yield* encodeBatch(b, encoded);
        yield COPY_TRAILER;
      }
      await pipeline(Readable.from(chunks(), { objectMode: false }), stream);
    };

    const upsertSql = (ti: TableInfo, dedupe: boolean): string => {
      const cols = ti.columns.map((c) => quoteIdent(c.name));
      const pk = ti.pk.map(quoteIdent);
      const sets = [
        ...ti.columns.filter((c) => !ti.pk.includes(c.name)).map((c) => `${quoteIdent(c.name)} = EXCLUDED.${quoteIdent(c.name)}`),
        ...ti.extra.map((c) => `${quoteIdent(c)} = NULL`),
      ];
      const select = dedupe
        ? `SELECT DISTINCT ON (${pk.join(', ')}) ${cols.join(', ')} FROM ${ti.staging} ORDER BY ${pk.join(', ')}, ctid DESC`
        : `SELECT ${cols.join(', ')} FROM ${ti.staging}`;
      return `INSERT INTO ${ti.qualified} (${cols.join(', ')}) ${select} ON CONFLICT (${pk.join(', ')}) DO ${sets.length ? `UPDATE SET ${sets.join(', ')}` : 'NOTHING'}`;
    };

    /** one transaction: COPY (append) or COPY into staging + upsert (tables with a primary key) */
    const writeOnce = async (ti: TableInfo, batches: A.RecordBatch[]): Promise<void> => {
      await client.query('BEGIN');
      try {
        if (ti.pk.length === 0) {
          await copyInto(ti.qualified, ti, batches);
        } else {
          ti.staging ??= quoteIdent(pgIdent(`cq_stage_${ti.name}`));
          await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${ti.staging} (LIKE ${ti.qualified}) ON COMMIT DELETE ROWS`);
          await copyInto(ti.staging, ti, batches);
          await client.query('SAVEPOINT cq_upsert');
          try {
            await client.query(upsertSql(ti, false));
          } catch (err) {
            // duplicate keys inside the batch: the last row wins
            if ((err as { code?: string }).code !== '21000') throw err;
            await client.query('ROLLBACK TO SAVEPOINT cq_upsert');
            await client.query(upsertSql(ti, true));
          }
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    };

    const toDeadLetter = async (ti: TableInfo, batch: A.RecordBatch, err: unknown): Promise<void> => {
      if (!deadLetter) {
        const p = path.resolve(ctx.baseDir, spec.dead_letter!);
        await mkdir(path.dirname(p), { recursive: true });
        deadLetter = createWriteStream(p, { flags: 'a' });
      }
      const reason = err instanceof EncodeError ? err.message : describePgError(err);
      for (const row of rowObjects(batch)) {
        const line = JSON.stringify({ table: ti.name, reason, row }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
        if (!deadLetter.write(line)) await new Promise((r) => deadLetter!.once('drain', () => r(undefined)));
        rejected++;
      }
    };

    /** bisect a failing batch down to the rows the server rejects */
    const writeIsolating = async (ti: TableInfo, batch: A.RecordBatch): Promise<void> => {
      try {
        await writeOnce(ti, [batch]);
      } catch (err) {
        if (!isRowError(err)) throw err;
        if (batch.numRows <= 1) return toDeadLetter(ti, batch, err);
        const mid = batch.numRows >> 1;
        await writeIsolating(ti, batch.slice(0, mid));
        await writeIsolating(ti, batch.slice(mid));
      }
    };

    const begin = async (): Promise<void> => {
      if (!inTx) { await client.query('BEGIN'); inTx = true; }
    };

    const ensureStaging = async (ti: TableInfo): Promise<string> => {
      ti.staging ??= quoteIdent(pgIdent(`cq_stage_${ti.name}`));
      await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${ti.staging} (LIKE ${ti.qualified}) ON COMMIT DELETE ROWS`);
      return ti.staging;
    };

    const upsertFromStaging = async (ti: TableInfo): Promise<void> => {
      await client.query('SAVEPOINT cq_upsert');
      try {
        await client.query(upsertSql(ti, false));
      } catch (err) {
        // duplicate keys among the staged rows: the last row wins
        if ((err as { code?: string }).code !== '21000') throw err;
        await client.query('ROLLBACK TO SAVEPOINT cq_upsert');
        await client.query(upsertSql(ti, true));
      }
      await client.query('RELEASE SAVEPOINT cq_upsert');
    };

    const openLoad = async (ti: TableInfo): Promise<OpenLoad> => {
      await begin();
      const staged = ti.pk.length > 0;
      const target = staged ? await ensureStaging(ti) : ti.qualified;
      const cols = ti.columns.map((c) => quoteIdent(c.name)).join(', ');
      const stream = client.query(copyFrom(`COPY ${target} (${cols}) FROM STDIN (FORMAT binary)`));
      const l: OpenLoad = { ti, stream, rows: 0, staged, done: Promise.resolve() };
      l.done = new Promise<void>((resolve, reject) => {
        stream.on('finish', resolve);
        stream.on('error', (e: Error) => { l.error = e; reject(e); });
      });
      l.done.catch(() => {}); // observed through l.error / finishLoad
      stream.write(COPY_HEADER);
      return l;
    };

    const writeToLoad = async (l: OpenLoad, batches: A.RecordBatch[]): Promise<void> => {
      const encoded = l.ti.columns.map((c) => ({ field: c.field, pgType: c.pgType }));
      for (const b of batches) {
        for (const chunk of encodeBatch(b, encoded)) {
          if (l.error) throw l.error;
          if (!l.stream.write(chunk)) {
            await new Promise<void>((resolve) => {
              const done = () => { l.stream.removeListener('drain', done); l.stream.removeListener('error', done); resolve(); };
              l.stream.once('drain', done);
              l.stream.once('error', done);
            });
          }
        }
        l.rows += b.numRows;
      }
      if (l.error) throw l.error;
    };

    const finishLoad = async (): Promise<void> => {
      const l = load;
      if (!l) return;
      if (!l.error && !l.ended) { l.ended = true; l.stream.end(COPY_TRAILER); }
      await l.done;
      if (l.staged) {
        await upsertFromStaging(l.ti);
        await client.query(`TRUNCATE ${l.ti.staging}`);
      }
      load = undefined;
    };

    /** make everything loaded so far durable */
    const commitAll = async (): Promise<void> => {
      try {
        await retrying('commit', async () => {
          await finishLoad();
          if (inTx) { await client.query('COMMIT'); inTx = false; }
        });
      } catch (err) {
        // a table's load failed when finished (its upsert, or a row the server checks at the end):
        // fail that table, keep and commit the others
        const ti = load?.ti;
        if (ti && isTableError(err)) {
          const e = await isolateTable(ti, err);
          await commitAll();
          throw e;
        }
        throw await failLoad(err);
      }
      pending = [];
      pendingRows = 0;
      pendingBytes = 0;
    };

    /**
     * A non-transient error of one table: roll the transaction back, forget that table's
     * uncommitted batches and replay every other table's into a new transaction, so only the
     * failed table loses its uncommitted rows. Returns the table-scoped error to throw.
     */
    const isolateTable = async (ti: TableInfo, err: unknown): Promise<CqPipeError> => {
      const e = describeLoadError(ti, err);
      const l = load;
      load = undefined;
      if (l && !l.error && !l.ended) l.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      if (inTx) { await client.query('ROLLBACK').catch(() => {}); inTx = false; }
      pending = pending.filter((p) => p.ti !== ti);
      pendingRows = pending.reduce((n, p) => n + p.batches.reduce((m, b) => m + b.numRows, 0), 0);
      pendingBytes = pending.reduce((n, p) => n + p.batches.reduce((m, b) => m + batchByteSize(b), 0), 0);
      ctx.logger.debug(`table ${ti.cqName} failed; replaying ${pendingRows} uncommitted rows of other tables`, { table: ti.cqName });
      let first = true;
      try {
        await retrying('replay', async () => {
          if (!first) return; // a reconnect already replayed them
          first = false;
          await replayPending();
        });
      } catch (replayErr) {
        throw await failLoad(replayErr);
      }
      return tableFailure(e);
    };

    const describeLoadError = (ti: TableInfo | undefined, err: unknown): CqPipeError => {
      if (err instanceof DestinationWriteError || err instanceof SchemaIncompatibleError) return err;
      const table = ti?.cqName;
      const row = copyRow(err);
      return new DestinationWriteError(
        `Postgres rejected rows for table ${table ?? '?'}: ${err instanceof EncodeError ? err.message : describePgError(err)}${row !== undefined ? ` (row ${row + 1} of the load)` : ''}; the table's uncommitted rows were rolled back`,
        { connector: ctx.name, table, ...(row !== undefined ? { row: row + 1 } : {}) }, err);
    };

    /** roll back the open transaction and turn `err` into a DestinationWriteError */
    const failLoad = async (err: unknown): Promise<Error> => {
      const l = load;
      load = undefined;
      pending = [];
      pendingRows = 0;
      pendingBytes = 0;
      if (l && !l.error && !l.ended) l.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      if (inTx) { await client.query('ROLLBACK').catch(() => {}); inTx = false; }
      return describeLoadError(l?.ti, err);
    };

    return {
      async migrateTables(tables, opts) {
        try {
          const r = await retrying('migrate', () => migrate(client, schema, tables, opts.migrateMode, opts.plan ?? false, ctx.name));
          infos.clear();
          return r.ddl;
        } catch (err) {
          if (err instanceof SchemaIncompatibleError) throw err;
          throw new DestinationWriteError(`migration failed: ${describePgError(err)}`, { connector: ctx.name, phase: 'migrate' }, err);
        }
      },
      async writeBatch(s, batches) {
        // another table's open load is finished first: if that fails, the error is that table's
        // (thrown before this batch is taken, so the engine can hand it over again)
        if (load && load.ti.cqName !== tableName(s)) {
          try {
            await retrying('load', () => finishLoad());
          } catch (err) {
            if (load?.ti && isTableError(err)) throw await isolateTable(load.ti, err);
            throw await failLoad(err);
          }
        }
        let ti: TableInfo;
        try {
          ti = await retrying('catalog', () => info(s));
        } catch (err) {
          // the table or a column is missing: nothing of it was loaded, the transaction is intact
          if ((err instanceof DestinationWriteError || err instanceof SchemaIncompatibleError) && err.context.table === tableName(s)) throw tableFailure(err);
          throw await failLoad(err);
        }
        if (!spec.dead_letter) {
          pending.push({ ti, batches });
          for (const b of batches) { pendingRows += b.numRows; pendingBytes += batchByteSize(b); }
          let first = true;
          try {
            await retrying('load', async () => {
              if (!first) return; // a retry already replayed this batch with the rest of the transaction
              first = false;
              if (load && load.ti !== ti) await finishLoad();
              load ??= await openLoad(ti);
              await writeToLoad(load, batches);
            });
          } catch (err) {
            // the failing load is the open one: this table's, or the previous table's when finishing it failed
            if (isTableError(err)) throw await isolateTable(load?.ti ?? ti, err);
            throw await failLoad(err);
          }
          if (pendingRows >= LOAD_ROWS || pendingBytes >= LOAD_BYTES) await commitAll();
          return;
        }
        // with a dead-letter file: one transaction per batch, so a rejected batch can be bisected
        try {
          await writeOnce(ti, batches);
        } catch (err) {
          if (!isRowError(err)) {
            // one transaction per batch: nothing else is uncommitted
            if (isTableError(err)) throw tableFailure(describeLoadError(ti, err));
            throw await failLoad(err);
          }
          for (const b of batches) await writeIsolating(ti, b);
        }
      },
      async commit() {
        await commitAll();
      },
      async deleteStale(msgs: DeleteStaleMessage[]) {
        await commitAll();
        try {
          await retrying('delete-stale', async () => {
            await client.query('BEGIN');
            try {
              for (const m of msgs) {
                await client.query(`DELETE FROM ${quoteIdent(schema)}.${quoteIdent(pgIdent(m.table))} WHERE ${quoteIdent(CQ_SOURCE_NAME)} = $1 AND ${quoteIdent(CQ_SYNC_TIME)} < $2`, [m.sourceName, m.syncTime]);
              }
              await client.query('COMMIT');
            } catch (e) {
              await client.query('ROLLBACK').catch(() => {});
              throw e;
            }
          });
        } catch (err) {
          throw new DestinationWriteError(`delete-stale failed: ${describePgError(err)}`, { connector: ctx.name, table: msgs[0]?.table, phase: 'delete-stale' }, err);
        }
      },
      rejectedRows: () => rejected,
      async close(err?: Error) {
        try {
          if (err) await failLoad(err);
          else await commitAll();
        } finally {
          if (deadLetter) await new Promise<void>((r) => deadLetter!.end(r));
          await client.end().catch(() => {});
        }
      },
    };
  },
});

export { pgTypeOf, isTransient };
