/**
 * The `postgresql` destination (see docs/postgresql.md): its spec and capabilities, and the client
 * that composes the parts — the connection, its transaction and the replay after a lost connection
 * (`session.ts`), migrations under an advisory lock (`migrate.ts`), binary COPY loads
 * (`copy-load.ts`), upserts through a staging table (`upsert.ts`), delete-stale scoped to the
 * source name, a source's delete-record as one CTE statement (`delete-record.ts`), the bulk replace
 * of tables read in full in `overwrite-delete-stale` (`staging.ts`, `bulk-replace.ts`), and the
 * dead-letter file for rows the server rejects (`dead-letter.ts`).
 */
import path from 'node:path';
import type * as A from 'apache-arrow';
import { defineDestination, type ConnectorContext, type DestinationClient, type MigrateOptions } from '../../lib/connector.js';
import { CqPipeError, DestinationWriteError, SchemaIncompatibleError, tableFailure } from '../../lib/errors.js';
import type { DeleteRecordMessage, DeleteStaleMessage, RejectedRowsMessage, WriteMode } from '../../lib/messages.js';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME, isIncrementalTable, primaryKeys, tableName } from '../../lib/schema.js';
import { bulkReplace, mergeAndDrop } from './bulk-replace.js';
import { pgIdent, quoteIdent, readTables } from './catalog.js';
import { connectionProblems, pgConnection } from './connection.js';
import { CopyLoad, copyBatches, encodeBatches, type CopyColumn } from './copy-load.js';
import { DeadLetterFile, deadLetterProblems } from './dead-letter.js';
import { deleteRecord } from './delete-record.js';
import { describeCause, isRowError, isTableError, loadError, rejectReason } from './load-errors.js';
import { migrate } from './migrate.js';
import { POSTGRES_OPTION_PROPERTIES, optionNotices, optionProblems, type CloudQueryPostgresOptions } from './options.js';
import { PgSession } from './session.js';
import { isTransient } from './transient.js';
import { pgTypeOf } from './types.js';
import { clearStaging, createStaging, stagingName, upsertFromStaging, type UpsertTable } from './upsert.js';
import {
  STAGE_CHUNK_BYTES,
  dropStaging,
  newStage,
  openStaging,
  stageCommitted,
  stageRolledBack,
  stagedSourceName,
  stagingIntact,
  withOrdinals,
  type Stage,
} from './staging.js';

export interface PostgresDestinationSpec extends CloudQueryPostgresOptions {
  connection_string: string;
  schema?: string;
  dead_letter?: string;
}

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['connection_string'],
  properties: {
    connection_string: { type: 'string', minLength: 1 },
    // default: the first schema of the connection string's search_path, else public
    schema: { type: 'string', minLength: 1 },
    dead_letter: { type: 'string', minLength: 1 },
    ...POSTGRES_OPTION_PROPERTIES,
  },
} as const;

export const postgresDestination = defineDestination<PostgresDestinationSpec>({
  name: 'postgresql',
  configSchema,
  validate: (spec) => [...connectionProblems(spec.connection_string, 'connection_string'), ...optionProblems(spec), ...deadLetterProblems(spec.dead_letter)],
  stateConnection: (spec) => (typeof spec.connection_string === 'string' ? spec.connection_string : undefined),
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10000, bytes: 100_000_000, timeoutMs: 60_000 } },
  async create(spec, ctx: ConnectorContext): Promise<DestinationClient> {
    return PostgresClient.open(spec, ctx);
  },
});

export { pgTypeOf, isTransient };

interface TableInfo extends UpsertTable {
  /** the table's name in the sync (before Postgres identifier rules) */
  cqName: string;
  name: string;
  /** columns written, in batch order, with the column's type in the database */
  columns: CopyColumn[];
  /** database columns the batches lack: they receive NULL (also on upsert) */
  extra: string[];
  pk: string[];
  /** read in full in `overwrite-delete-stale` (not incremental), with a key and the reserved columns: staged for a bulk replace */
  stageable: boolean;
}

/**
 * the open streaming load: a COPY into the table, into its temporary staging table when it has a
 * primary key (`staged`: upserted when the load ends), or into its bulk-replace staging table (`stage`)
 */
interface OpenLoad {
  ti: TableInfo;
  copy: CopyLoad;
  staged: boolean;
  stage?: Stage;
}

/**
 * Without a dead-letter file, consecutive batches of a table stream into one COPY inside one
 * transaction (the server works while the next batch is read and encoded); the load is finished
 * (and upserted from staging for keyed tables) when another table's batch arrives, and committed
 * at checkpoints, on delete-stale, at close, or when the session keeps too many uncommitted rows.
 * With a dead-letter file each batch is a transaction of its own, so a rejected batch can be
 * bisected down to its rejected rows.
 */
class PostgresClient implements DestinationClient {
  readonly #ctx: ConnectorContext;
  readonly #schema: string;
  readonly #session: PgSession<TableInfo>;
  readonly #deadLetter?: DeadLetterFile;
  readonly rejectRows?: (msg: RejectedRowsMessage) => Promise<void>;
  readonly #tables = new Map<string, TableInfo>();
  /** the sync's table written to each Postgres table: two names cut to the same 63 bytes must not share one */
  readonly #writers = new Map<string, string>();
  /** create CloudQuery's delete-stale index (`create_performance_indexes`; cq-pipe's default: yes) */
  readonly #indexes: boolean;
  /** tables a migration failed, not yet reported (reported one per call, as the engine hands the rest over again) */
  readonly #migrationFailures: CqPipeError[] = [];
  readonly #writeMode?: WriteMode;
  /** tables staged for a bulk replace, by Postgres name */
  readonly #stages = new Map<string, Stage>();
  /** tables no longer staged in this sync (merged at a checkpoint, or failed) */
  readonly #unstaged = new Set<string>();
  #load?: OpenLoad;
  /** column types of the tables delete-records ran on (read from the catalog once; cleared by a migration) */
  readonly #deleteColumns = new Map<string, Map<string, string>>();

  private constructor(spec: PostgresDestinationSpec, ctx: ConnectorContext) {
    this.#ctx = ctx;
    this.#writeMode = ctx.writeMode;
    this.#indexes = spec.create_performance_indexes ?? true;
    for (const notice of optionNotices(spec)) ctx.logger.info(`destination ${ctx.name}: ${notice}`);
    const conn = pgConnection(spec.connection_string, 'spec.connection_string', ctx.name);
    this.#schema = spec.schema ?? conn.schema ?? 'public';
    if (spec.dead_letter) {
      const dead = new DeadLetterFile(path.resolve(ctx.baseDir, spec.dead_letter));
      this.#deadLetter = dead;
      // only with a dead-letter file: rows the source could not convert go there (lib/connector.ts)
      this.rejectRows = (msg) => dead.writeRejected(pgIdent(msg.table), msg.rows);
    }
    this.#session = new PgSession<TableInfo>({
      connectionString: conn.connectionString,
      connector: ctx.name,
      logger: ctx.logger,
      onReconnect: () => {
        this.#dropLoad(new DestinationWriteError('reconnecting', { connector: ctx.name, phase: 'load' }));
        this.#rolledBack(true);
      },
      replay: (ti, chunks, rows) => this.#replayLoad(ti, chunks, rows),
    });
  }

  static async open(spec: PostgresDestinationSpec, ctx: ConnectorContext): Promise<PostgresClient> {
    const client = new PostgresClient(spec, ctx);
    await client.#session.connect();
    return client;
  }

  /**
   * Migrates every table it can; a table Postgres refuses is thrown as that table's failure
   * (scope `table`), one per call — the engine calls again with the other tables, and the tables
   * already migrated plan nothing.
   */
  async migrateTables(tables: A.Schema[], opts: MigrateOptions): Promise<string[]> {
    const names = new Set(tables.map(tableName));
    const known = this.#migrationFailures.findIndex((e) => names.has(e.context.table ?? ''));
    if (known >= 0) throw this.#migrationFailures.splice(known, 1)[0]!;
    // a table migrated again mid-sync: its staged rows go into it first, in the shape they were staged in
    const restaged = [...this.#stages.values()].filter((st) => names.has(st.cqName));
    if (restaged.length && !opts.plan) {
      await this.#commitAll();
      for (const st of restaged) await this.#merge(st);
    }
    let r: Awaited<ReturnType<typeof migrate>>;
    try {
      const o = { schema: this.#schema, mode: opts.migrateMode, plan: opts.plan ?? false, connector: this.#ctx.name, indexes: this.#indexes };
      r = await this.#session.retrying('migrate', () => migrate(this.#session.client, tables, o));
      this.#tables.clear();
      this.#deleteColumns.clear();
    } catch (err) {
      if (err instanceof CqPipeError) throw err;
      const list = [...names];
      const what = `${list.slice(0, 5).join(', ')}${list.length > 5 ? `, … (${list.length} tables)` : ''}`;
      const context = { connector: this.#ctx.name, phase: 'migrate', table: list.length === 1 ? list[0] : undefined };
      throw new DestinationWriteError(`migration of ${list.length === 1 ? 'table' : 'tables'} ${what} failed: ${describeCause(err)}`, context, err);
    }
    if (r.failed.length) {
      this.#migrationFailures.push(...r.failed.slice(1));
      throw r.failed[0]!;
    }
    return r.ddl;
  }

  async writeBatch(s: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    // another table's open load is finished first: if that fails, the error is that table's
    // (thrown before this batch is taken, so the engine can hand it over again)
    if (this.#load && this.#load.ti.cqName !== tableName(s)) {
      try {
        await this.#session.retrying('load', () => this.#finishLoad());
      } catch (err) {
        const failed = this.#load?.ti;
        if (failed && isTableError(err)) throw await this.#isolateTable(failed, err);
        throw await this.#failLoad(err, failed);
      }
    }
    const st = this.#stages.get(pgIdent(tableName(s)));
    if (st && (st.columns.length !== s.fields.length + 1 || s.fields.some((f, i) => st.columns[i]!.field.name !== f.name))) {
      // new columns (--no-migrate): the rows staged so far go into the table, the rest the row path
      await this.#commitAll();
      await this.#merge(st);
    }
    let ti: TableInfo;
    try {
      ti = await this.#session.retrying('catalog', () => this.#info(s));
    } catch (err) {
      // the table or a column is missing: nothing of it was loaded, the transaction is intact
      if ((err instanceof DestinationWriteError || err instanceof SchemaIncompatibleError) && err.context.table === tableName(s)) throw tableFailure(err);
      throw await this.#failLoad(err, tableName(s));
    }
    if (this.#deadLetter) await this.#writeDeadLettering(this.#deadLetter, ti, batches);
    else await this.#writeStreaming(ti, batches);
  }

  /**
   * A checkpoint: everything is committed, and the staged rows of its table (of every table when it
   * names none) go into the table — a table with checkpoints is not replaced in bulk.
   */
  async commit(table?: string): Promise<void> {
    await this.#commitAll();
    for (const st of [...this.#stages.values()]) if (table === undefined || st.cqName === table) await this.#merge(st);
  }

  async deleteStale(all: DeleteStaleMessage[]): Promise<void> {
    await this.#commitAll();
    const msgs: DeleteStaleMessage[] = [];
    for (const m of all) {
      const st = this.#stages.get(pgIdent(m.table));
      if (st) await this.#replace(st, m);
      else msgs.push(m);
    }
    if (!msgs.length) return;
    const schema = quoteIdent(this.#schema);
    // $2 is an instant: compared as timestamptz it is right for a `timestamp without time zone`
    // column too (CloudQuery's), read in the session's UTC
    const stale = `${quoteIdent(CQ_SOURCE_NAME)} = $1 AND ${quoteIdent(CQ_SYNC_TIME)} < $2::timestamptz`;
    try {
      await this.#session.retrying('delete-stale', () =>
        this.#session.transaction(async (client) => {
          for (const m of msgs) await client.query(`DELETE FROM ${schema}.${quoteIdent(pgIdent(m.table))} WHERE ${stale}`, [m.sourceName, m.syncTime]);
        }),
      );
    } catch (err) {
      const context = { connector: this.#ctx.name, table: msgs.length === 1 ? msgs[0]!.table : undefined, phase: 'delete-stale' };
      throw new DestinationWriteError(`delete-stale of ${msgs.map((m) => m.table).join(', ')} failed: ${describeCause(err)}`, context, err);
    }
  }

  /**
   * A source's delete-record: every row written before it is committed, and the staged rows of its
   * tables go into them (they are no longer replaced in bulk), so the delete sees them; then one
   * statement, committed on its own. A failure of the statement (a missing table or column,
   * a value Postgres refuses) fails the table.
   */
  async deleteRecord(msg: DeleteRecordMessage): Promise<void> {
    await this.#commitAll();
    const names = new Set([msg.table, ...msg.relations.map((r) => r.table)]);
    for (const st of [...this.#stages.values()]) if (names.has(st.cqName)) await this.#merge(st);
    const connector = this.#ctx.name;
    let done: Awaited<ReturnType<typeof deleteRecord>>;
    try {
      // one statement outside any open transaction (everything before was committed): atomic, retried whole
      done = await this.#session.retrying('delete-record', () => deleteRecord(this.#session.client, this.#schema, msg, connector, this.#deleteColumns));
    } catch (err) {
      if (err instanceof CqPipeError) throw err;
      const e = new DestinationWriteError(
        `delete-record for table ${msg.table} failed: ${describeCause(err)}`,
        { connector, table: msg.table, phase: 'delete-record' },
        err,
      );
      throw isTableError(err) ? tableFailure(e) : e;
    }
    const { statement, deleted } = done;
    const counts = statement.tables.map((t, i) => `${t}: ${deleted[i]}`).join(', ');
    this.#ctx.logger.debug(`delete-record for table ${msg.table}: rows deleted ${counts}`, { table: msg.table });
    if (statement.skipped.length) {
      const list = statement.skipped.join(', ');
      this.#ctx.logger.info(`delete-record for table ${msg.table}: relations ${list} deleted nothing (no such table here, or no _cq_parent_id)`, {
        table: msg.table,
      });
    }
  }

  rejectedRows(): number {
    return this.#deadLetter?.rows ?? 0;
  }

  async close(err?: Error): Promise<void> {
    try {
      if (err) {
        await this.#failLoad(err);
        await this.#dropStages();
      } else {
        await this.#commitAll();
        // staged tables no delete-stale came for (the sync had errors, or the table is incremental): upserted, as `overwrite`
        let first: unknown;
        for (const st of [...this.#stages.values()]) await this.#merge(st).catch((e) => (first ??= e));
        if (first) throw first;
      }
    } finally {
      await this.#deadLetter?.close();
      await this.#session.close();
    }
  }

  /** the table `s` is written to, read from the catalog unless known with the same columns */
  async #info(s: A.Schema): Promise<TableInfo> {
    const name = pgIdent(tableName(s));
    const writer = this.#writers.get(name);
    if (writer !== undefined && writer !== tableName(s)) {
      const msg = `table ${tableName(s)} and table ${writer} would both be Postgres table "${name}" (names are cut to 63 bytes)`;
      throw new SchemaIncompatibleError(msg, { connector: this.#ctx.name, table: tableName(s) }, 'rename one of them (e.g. a basic transformer rename_table)');
    }
    this.#writers.set(name, tableName(s));
    const cached = this.#tables.get(name);
    if (cached && cached.columns.length === s.fields.length && cached.columns.every((c, i) => c.field.name === s.fields[i]!.name)) return cached;
    // a query behind an open COPY would wait forever: finish the load first
    if (this.#load) await this.#finishLoad();
    const schema = this.#schema;
    const existing = (await readTables(this.#session.client, schema, [name])).get(name);
    if (!existing) {
      throw new DestinationWriteError(`table ${schema}.${name} does not exist`, { connector: this.#ctx.name, table: tableName(s) }, undefined);
    }
    const columns = s.fields.map((f) => {
      const col = existing.columns.get(pgIdent(f.name));
      if (!col) {
        const context = { connector: this.#ctx.name, table: tableName(s), column: f.name };
        const hint = 'run the sync without --no-migrate, or `cq-pipe migrate`';
        throw new SchemaIncompatibleError(`table ${schema}.${name} has no column "${f.name}"`, context, hint);
      }
      return { field: f, name: col.name, pgType: col.type };
    });
    const extra = [...existing.columns.keys()].filter((c) => !columns.some((x) => x.name === c));
    const qualified = `${quoteIdent(schema)}.${quoteIdent(name)}`;
    const pk = primaryKeys(s).map(pgIdent);
    const reserved = columns.some((c) => c.name === CQ_SOURCE_NAME) && columns.some((c) => c.name === CQ_SYNC_TIME);
    const stageable = this.#writeMode === 'overwrite-delete-stale' && !this.#deadLetter && pk.length > 0 && reserved && !isIncrementalTable(s);
    const ti: TableInfo = { cqName: tableName(s), name, qualified, staging: stagingName(name), columns, extra, pk, stageable };
    this.#tables.set(name, ti);
    return ti;
  }

  // --- streaming loads (no dead-letter file) --------------------------------------------------

  async #writeStreaming(ti: TableInfo, batches: A.RecordBatch[]): Promise<void> {
    this.#session.keep(ti, batches);
    try {
      // a reconnect replays this batch with the rest of the transaction
      await this.#session.retryingOnce('load', () => this.#stream(ti, batches));
    } catch (err) {
      // the failing load is the open one: this table's, or the previous table's when finishing it failed
      if (isTableError(err)) throw await this.#isolateTable(this.#load?.ti ?? ti, err);
      throw await this.#failLoad(err, this.#load?.ti ?? ti);
    }
    // a staged load commits smaller chunks: committed, its rows are kept by the server, not the replay buffer
    if (this.#session.full || (this.#load?.stage && this.#session.pendingBytes >= STAGE_CHUNK_BYTES)) await this.#commitAll();
  }

  /**
   * write `batches` (just kept by the session) into the open load of `ti`, finishing another
   * table's load and opening one as needed; their COPY bytes go to the session's replay log, all of
   * them even when this fails part way
   */
  async #stream(ti: TableInfo, batches: readonly A.RecordBatch[]): Promise<void> {
    const st = this.#load?.ti === ti ? this.#load.stage : this.#stageFor(ti, batches);
    if (st) st.pendingRows += batches.reduce((n, b) => n + b.numRows, 0);
    const rows = st ? batches.map((b) => withOrdinals(st, b)) : batches;
    const chunks = this.#session.logged(encodeBatches(rows, st ? st.columns : ti.columns));
    try {
      if (this.#load && this.#load.ti !== ti) await this.#finishLoad();
      const load = (this.#load ??= await this.#openLoad(ti, st));
      await load.copy.write(chunks);
    } catch (err) {
      await chunks.rest();
      throw err;
    }
  }

  /** send a kept batch's logged COPY bytes again after a rollback (the rows keep their ordinals when staged) */
  async #replayLoad(ti: TableInfo, chunks: AsyncIterable<Buffer>, rows: number): Promise<void> {
    if (this.#load && this.#load.ti !== ti) await this.#finishLoad();
    const load = (this.#load ??= await this.#openLoad(ti, this.#stages.get(ti.name)));
    if (load.stage) load.stage.pendingRows += rows;
    await load.copy.write(chunks);
  }

  /** the table's bulk-replace stage: the one it has, or a new one when it qualifies and was not unstaged */
  #stageFor(ti: TableInfo, batches: readonly A.RecordBatch[]): Stage | undefined {
    const have = this.#stages.get(ti.name);
    if (have || !ti.stageable || this.#unstaged.has(ti.name) || !batches.length) return have;
    const sourceName = stagedSourceName(batches[0]!);
    if (sourceName === undefined) return undefined;
    const { cqName, name: table, qualified, columns, pk, extra } = ti;
    const st = newStage({ cqName, schema: this.#schema, table, qualified, sourceName, columns, pk, extra });
    this.#stages.set(ti.name, st);
    return st;
  }

  async #openLoad(ti: TableInfo, stage?: Stage): Promise<OpenLoad> {
    await this.#session.begin();
    if (stage) {
      await openStaging(this.#session.client, stage);
      return { ti, staged: false, stage, copy: new CopyLoad(this.#session.client, stage.staging, stage.columns) };
    }
    const staged = ti.pk.length > 0;
    if (staged) await createStaging(this.#session.client, ti);
    return { ti, staged, copy: new CopyLoad(this.#session.client, staged ? ti.staging : ti.qualified, ti.columns) };
  }

  /** end the open load's COPY and, for a keyed table, upsert it from staging (the transaction stays open) */
  async #finishLoad(): Promise<void> {
    const l = this.#load;
    if (!l) return;
    await l.copy.end();
    if (l.staged) {
      await upsertFromStaging(this.#session.client, l.ti);
      await clearStaging(this.#session.client, l.ti);
    }
    this.#load = undefined;
  }

  /** forget the open load (its transaction is rolled back, or its connection lost) */
  #dropLoad(reason: unknown): void {
    const l = this.#load;
    this.#load = undefined;
    l?.copy.abort(reason);
  }

  /** make everything loaded so far durable */
  async #commitAll(): Promise<void> {
    try {
      await this.#session.retrying('commit', async () => {
        await this.#finishLoad();
        await this.#session.commit();
        for (const st of this.#stages.values()) stageCommitted(st);
      });
    } catch (err) {
      // a table's load failed when finished (its upsert, or a row the server checks at the end):
      // fail that table, keep and commit the others
      const ti = this.#load?.ti;
      if (ti && isTableError(err)) {
        const e = await this.#isolateTable(ti, err);
        await this.#commitAll();
        throw e;
      }
      throw await this.#failLoad(err);
    }
  }

  /**
   * A non-transient error of one table: roll the transaction back, forget that table's
   * uncommitted batches and replay every other table's into a new transaction, so only the
   * failed table loses its uncommitted rows. Returns the table-scoped error to throw.
   */
  async #isolateTable(ti: TableInfo, err: unknown): Promise<CqPipeError> {
    const e = loadError(this.#ctx.name, ti.cqName, err);
    this.#dropLoad(err);
    await this.#session.rollback();
    this.#rolledBack(false);
    this.#session.discard(ti);
    const st = this.#stages.get(ti.name);
    if (st) {
      // the failed table is left as it was: its staged rows are dropped
      this.#unstage(st);
      await dropStaging(this.#session.client, st).catch(() => {});
    }
    this.#ctx.logger.debug(`table ${ti.cqName} failed; replaying ${this.#session.pendingRows} uncommitted rows of other tables`, { table: ti.cqName });
    try {
      await this.#session.replayKept();
    } catch (replayErr) {
      throw await this.#failLoad(replayErr);
    }
    return tableFailure(e);
  }

  /**
   * roll back the open transaction and turn `err` into a DestinationWriteError naming the table
   * being loaded (`table`, else the open load's), else the tables of the rolled-back transaction
   */
  async #failLoad(err: unknown, table?: TableInfo | string): Promise<CqPipeError> {
    const ti = table ?? this.#load?.ti;
    const names = ti !== undefined ? [typeof ti === 'string' ? ti : ti.cqName] : this.#session.pendingTables.map((t) => t.cqName);
    this.#dropLoad(err);
    this.#session.discard();
    await this.#session.rollback();
    this.#rolledBack(false);
    return loadError(this.#ctx.name, names, err);
  }

  // --- bulk replace (docs/postgresql.md, "Bulk replace") --------------------------------------

  #rolledBack(reconnected: boolean): void {
    for (const st of this.#stages.values()) stageRolledBack(st, reconnected);
  }

  #unstage(st: Stage): void {
    this.#stages.delete(pgIdent(st.cqName));
    this.#unstaged.add(pgIdent(st.cqName));
  }

  /**
   * run `fn` on the staging table, checking first after a reconnect that the server still holds its
   * rows; `done` when it is gone: an earlier attempt committed (and dropped it) before the connection was lost
   */
  async #onStaging<R>(st: Stage, fn: () => Promise<R>): Promise<R | 'done'> {
    if (st.verify) {
      const intact = await stagingIntact(this.#session.client, st);
      if (intact === 'missing') return 'done';
      if (!intact) {
        const msg = `the staged rows of table ${st.cqName} were lost (a server crash empties unlogged tables); the table was left as it was`;
        throw new DestinationWriteError(msg, { connector: this.#ctx.name, table: st.cqName, phase: 'replace' }, undefined, { retryable: true });
      }
      st.verify = false;
    }
    return fn();
  }

  /** the table's final step after a successful sync: its content replaced from the staged rows, in one transaction */
  async #replace(st: Stage, m: DeleteStaleMessage): Promise<void> {
    try {
      const r = await this.#session.retrying('replace', () => this.#onStaging(st, () => bulkReplace(this.#session.client, st, m)));
      const how = r === 'done' ? 'replaced (committed before the connection was lost)' : r.how === 'merged' ? `merged (${r.reason})` : 'replaced';
      this.#ctx.logger.debug(`table ${st.cqName}: ${st.committedRows} staged rows ${how}`, { table: st.cqName });
    } catch (err) {
      throw await this.#stageFailed(st, 'replace', `bulk replace of table ${st.cqName} failed`, err);
    }
    this.#unstage(st);
  }

  /** the staged rows upserted into the table (a checkpoint for it, a migration, or no delete-stale); the table then loads row by row */
  async #merge(st: Stage): Promise<void> {
    try {
      await this.#session.retrying('merge', () => this.#onStaging(st, () => mergeAndDrop(this.#session.client, st)));
    } catch (err) {
      throw await this.#stageFailed(st, 'merge', `writing table ${st.cqName} failed`, err);
    }
    this.#unstage(st);
  }

  /** a failed final step left the table as it was: drop the staged rows; the table fails alone when the cause is its own */
  async #stageFailed(st: Stage, phase: string, what: string, err: unknown): Promise<CqPipeError> {
    this.#unstage(st);
    await dropStaging(this.#session.client, st).catch(() => {});
    if (err instanceof CqPipeError) return tableFailure(err);
    const e = new DestinationWriteError(
      `${what}: ${describeCause(err)}; the table was left as it was`,
      { connector: this.#ctx.name, table: st.cqName, phase },
      err,
    );
    return isTableError(err) ? tableFailure(e) : e;
  }

  /** a failed sync: every staging table is dropped, the tables left as they were */
  async #dropStages(): Promise<void> {
    for (const st of [...this.#stages.values()]) {
      this.#unstage(st);
      await dropStaging(this.#session.client, st).catch(() => {});
    }
  }

  // --- one transaction per batch (with a dead-letter file) -----------------------------------

  async #writeDeadLettering(dead: DeadLetterFile, ti: TableInfo, batches: A.RecordBatch[]): Promise<void> {
    try {
      await this.#writeOnce(ti, batches);
    } catch (err) {
      if (!isRowError(err)) {
        // one transaction per batch: nothing else is uncommitted
        if (isTableError(err)) throw tableFailure(loadError(this.#ctx.name, ti.cqName, err));
        throw await this.#failLoad(err, ti);
      }
      for (const b of batches) await this.#writeIsolating(dead, ti, b);
    }
  }

  /** one transaction: COPY (append) or COPY into staging + upsert (tables with a primary key) */
  async #writeOnce(ti: TableInfo, batches: readonly A.RecordBatch[]): Promise<void> {
    await this.#session.transaction(async (client) => {
      if (ti.pk.length === 0) {
        await copyBatches(client, ti.qualified, ti.columns, batches);
        return;
      }
      await createStaging(client, ti);
      await copyBatches(client, ti.staging, ti.columns, batches);
      await upsertFromStaging(client, ti);
    });
  }

  /** bisect a failing batch down to the rows the server rejects */
  async #writeIsolating(dead: DeadLetterFile, ti: TableInfo, batch: A.RecordBatch): Promise<void> {
    try {
      await this.#writeOnce(ti, [batch]);
    } catch (err) {
      if (!isRowError(err)) throw err;
      if (batch.numRows <= 1) return dead.write(ti.name, rejectReason(err), batch);
      const mid = batch.numRows >> 1;
      await this.#writeIsolating(dead, ti, batch.slice(0, mid));
      await this.#writeIsolating(dead, ti, batch.slice(mid));
    }
  }
}
