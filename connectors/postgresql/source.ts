/**
 * The `postgresql` source (docs/semantics.md): every table (and view) of the database, selected by globs over
 * `schema.table` or the cq name (`orders` for public.orders, `<schema>_<table>` otherwise), read
 * with `COPY (SELECT …) TO STDOUT (FORMAT binary)` and decoded straight into Arrow batches.
 * Incremental tables (`incremental: {cursor: col}`) read `WHERE cursor >= saved ORDER BY cursor`
 * (then the primary key), so ties are never lost, and emit a checkpoint after every batch.
 */
import * as A from 'apache-arrow';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { defineSource, type ConnectorContext, type SourceClient } from '../../lib/connector.js';
import type { Shard } from '../../lib/pipeline.js';
import { CqPipeError, SourceReadError, tableFailure, toCqPipeError } from '../../lib/errors.js';
import type { SyncMessage } from '../../lib/messages.js';
import { defineTable, tableName, type ColumnDef } from '../../lib/schema.js';
import { MD_SOURCE_TABLE } from '../../lib/table-select.js';
import { withSchemaMetadata } from '../../lib/schema.js';
import { quoteIdent } from './catalog.js';
import { connectionProblems, pgConnection } from './connection.js';
import { isTransient } from './transient.js';
import { DEFAULT_ATTEMPTS, retry, retryAfter } from '../../lib/retry.js';
import { CopyTupleParser, DecodeError, decoderFor, type ColumnDecoder } from './copy-decode.js';

export interface PostgresSourceTableSpec {
  name: string;
  incremental?: { cursor: string };
  /** full reads in primary-key order with a keyset checkpoint per batch: a killed sync resumes */
  resumable?: boolean;
}

export interface PostgresSourceSpec {
  connection_string: string;
  tables?: PostgresSourceTableSpec[];
  batch_rows?: number;
  /** CloudQuery's name for rows per Arrow record: batch_rows when that is not set */
  rows_per_record?: number;
  /** CloudQuery's: accepted with a notice (cq-pipe does not use pgx) */
  pgx_log_level?: string;
  /** CloudQuery's logical-replication mode: accepted with a notice, the tables are read as without it */
  cdc_id?: string;
}

/** CloudQuery source keys that mean nothing to cq-pipe: one notice each when set (docs/postgresql.md, "CloudQuery's keys") */
const SOURCE_NOTICES: Partial<Record<keyof PostgresSourceSpec, string>> = {
  pgx_log_level: 'pgx_log_level is accepted and not applied: cq-pipe does not use pgx; --log-level debug logs its Postgres retries and failures',
  cdc_id: 'cdc_id is accepted and not applied: cq-pipe has no change data capture; tables are read in full, or from their cursor with tables[].incremental',
};

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['connection_string'],
  properties: {
    connection_string: { type: 'string', minLength: 1 },
    // default 10000 (rows_per_record when set)
    batch_rows: { type: 'integer', minimum: 1 },
    rows_per_record: { type: 'integer', minimum: 1 },
    pgx_log_level: { type: 'string', enum: ['', 'none', 'error', 'warn', 'info', 'debug', 'trace'] },
    cdc_id: { type: 'string' },
    tables: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          incremental: { type: 'object', additionalProperties: false, required: ['cursor'], properties: { cursor: { type: 'string', minLength: 1 } } },
          resumable: { type: 'boolean' },
        },
      },
    },
  },
} as const;

interface PgColumn {
  name: string;
  /** format_type() */
  type: string;
  notNull: boolean;
  /** how it is selected (a cast to text for types without a binary decoder) */
  expr: string;
  cq: string;
}

interface PgTable {
  schema: string;
  table: string;
  cqName: string;
  columns: PgColumn[];
  pk: string[];
  cursor?: string;
  resumable?: boolean;
  arrow?: A.Schema;
}

const SCALARS: Record<string, string> = {
  boolean: 'bool',
  smallint: 'int16',
  integer: 'int32',
  bigint: 'int64',
  real: 'float32',
  'double precision': 'float64',
  text: 'utf8',
  'character varying': 'utf8',
  character: 'utf8',
  name: 'utf8',
  citext: 'utf8',
  bytea: 'binary',
  uuid: 'uuid',
  json: 'json',
  jsonb: 'json',
  inet: 'inet',
  cidr: 'inet',
  date: 'date32',
  'time without time zone': 'time64',
  'timestamp with time zone': 'timestamp',
  'timestamp without time zone': 'timestamp',
};

/** the cq type of a Postgres column type and how to select it */
export function mapPgType(type: string, col: string): { cq: string; expr: string } {
  const q = quoteIdent(col);
  const base = type.replace(/\(.*\)/, '');
  const numeric = /^numeric\((\d+),(\d+)\)$/.exec(type);
  if (numeric && Number(numeric[1]) <= 38) return { cq: `decimal(${numeric[1]},${numeric[2]})`, expr: q };
  if (type.endsWith('[]')) {
    const inner = mapPgType(type.slice(0, -2), col);
    if (inner.expr === q && !['json', 'inet'].includes(inner.cq) && !inner.cq.startsWith('list')) return { cq: `list<${inner.cq}>`, expr: q };
    return { cq: 'json', expr: `array_to_json(${q})::text` };
  }
  if (base === 'inet' || base === 'cidr') {
    return { cq: 'inet', expr: `CASE WHEN masklen(${q}) = CASE family(${q}) WHEN 4 THEN 32 ELSE 128 END THEN host(${q}) ELSE ${q}::text END` };
  }
  const s = SCALARS[base];
  if (s && s !== 'inet') return { cq: s, expr: base === 'json' ? `${q}::text` : q };
  return { cq: 'utf8', expr: `${q}::text` }; // enums, intervals, money, unbounded numeric, …
}

function cqNameOf(schema: string, table: string): string {
  return schema === 'public' ? table : `${schema}_${table}`;
}

export const postgresSource = defineSource<PostgresSourceSpec>({
  name: 'postgresql',
  configSchema,
  validate: (spec) => connectionProblems(spec.connection_string, 'connection_string'),
  create(spec, ctx: ConnectorContext): SourceClient {
    const conn = pgConnection(spec.connection_string, 'spec.connection_string', ctx.name);
    const batchRows = spec.batch_rows ?? spec.rows_per_record ?? 10000;
    for (const [key, notice] of Object.entries(SOURCE_NOTICES)) if (spec[key as keyof PostgresSourceSpec]) ctx.logger.info(`source ${ctx.name}: ${notice}`);
    let client: pg.Client | undefined;
    let tables: Promise<PgTable[]> | undefined;

    const connect = async (): Promise<pg.Client> => {
      if (client) return client;
      const c = new pg.Client({ connectionString: conn.connectionString, application_name: 'cq-pipe-source' });
      c.on('error', (err) => ctx.logger.warn(`postgres source connection error: ${err.message}`));
      try {
        await c.connect();
        await c.query("SET TIME ZONE 'UTC'");
      } catch (err) {
        throw new SourceReadError(`cannot connect to Postgres: ${(err as Error).message}`, { connector: ctx.name, phase: 'connect' }, err, undefined, {
          retryable: isTransient(err),
        });
      }
      client = c;
      return c;
    };

    const listTables = async (): Promise<PgTable[]> => {
      const c = await connectRetrying('the catalog');
      const cols = await c.query<{ schema: string; table: string; column: string; type: string; not_null: boolean }>(
        `SELECT n.nspname AS schema, cl.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
           FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace JOIN pg_attribute a ON a.attrelid = cl.oid
          WHERE cl.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
            AND NOT cl.relispartition
          ORDER BY n.nspname, cl.relname, a.attnum`,
      );
      const pks = await c.query<{ schema: string; table: string; cols: string[] }>(
        `SELECT n.nspname AS schema, cl.relname AS table,
                array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, ord)
                        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.ord) AS cols
           FROM pg_index i JOIN pg_class cl ON cl.oid = i.indrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
          WHERE i.indisprimary`,
      );
      const byKey = new Map<string, PgTable>();
      for (const r of cols.rows) {
        const key = `${r.schema}.${r.table}`;
        let t = byKey.get(key);
        if (!t) byKey.set(key, (t = { schema: r.schema, table: r.table, cqName: cqNameOf(r.schema, r.table), columns: [], pk: [] }));
        const m = mapPgType(r.type, r.column);
        t.columns.push({ name: r.column, type: r.type, notNull: r.not_null, expr: m.expr, cq: m.cq });
      }
      for (const r of pks.rows) {
        const t = byKey.get(`${r.schema}.${r.table}`);
        if (t) t.pk = r.cols;
      }
      const settings = new Map((spec.tables ?? []).map((t) => [t.name, t]));
      for (const t of byKey.values()) {
        const s = settings.get(`${t.schema}.${t.table}`) ?? settings.get(t.cqName) ?? (t.schema === 'public' ? settings.get(t.table) : undefined);
        const cursor = s?.incremental?.cursor;
        if (cursor && !t.columns.some((c) => c.name === cursor)) {
          throw new SourceReadError(`incremental cursor "${cursor}" is not a column of ${t.schema}.${t.table}`, {
            connector: ctx.name,
            table: t.cqName,
            column: cursor,
          });
        }
        t.cursor = cursor;
        if (s?.resumable) {
          if (!t.pk.length)
            throw new SourceReadError(`resumable: true needs a primary key, and ${t.schema}.${t.table} has none`, { connector: ctx.name, table: t.cqName });
          if (cursor)
            throw new SourceReadError(`${t.schema}.${t.table}: resumable is for full reads; an incremental table already resumes from its cursor`, {
              connector: ctx.name,
              table: t.cqName,
            });
          t.resumable = true;
        }
        const defs: ColumnDef[] = t.columns.map((c) => ({
          name: c.name,
          type: c.cq,
          not_null: c.notNull,
          primary_key: t.pk.includes(c.name),
          incremental: c.name === cursor,
        }));
        t.arrow = withSchemaMetadata(defineTable({ name: t.cqName, columns: defs, incremental: cursor !== undefined }), {
          [MD_SOURCE_TABLE]: `${t.schema}.${t.table}`,
        });
      }
      for (const name of settings.keys()) {
        if (![...byKey.values()].some((t) => name === `${t.schema}.${t.table}` || name === t.cqName)) {
          throw new SourceReadError(`spec.tables names "${name}", which is not a table of the database`, { connector: ctx.name, keyPath: 'spec.spec.tables' });
        }
      }
      return [...byKey.values()];
    };

    /** drop a broken connection so the next connect() opens a new one */
    const dropClient = async (): Promise<void> => {
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    };

    /** connect, retrying transient failures (the server starting or restarting) with backoff */
    const connectRetrying = (what: string): Promise<pg.Client> =>
      retry(connect, {
        // connect() marks its error retryable when the cause is transient
        attempts: DEFAULT_ATTEMPTS,
        onRetry: ({ retry: n, retries, delayMs, error }) => {
          const cause = (error instanceof SourceReadError ? error.cause : error) as Error;
          const wait = `retry ${n}/${retries} in ${Math.round(delayMs)} ms`;
          ctx.logger.warn(`connecting to Postgres for ${what} failed: ${cause.message}; ${wait}`, { phase: 'connect' });
        },
      });

    /** the tables, retrying transient failures of the catalog queries */
    const catalog = (): Promise<PgTable[]> =>
      retry(listTables, {
        attempts: DEFAULT_ATTEMPTS,
        isRetryable: isTransient,
        onRetry: async ({ retry: n, retries, delayMs, error }) => {
          await dropClient();
          const wait = `retry ${n}/${retries} in ${Math.round(delayMs)} ms`;
          ctx.logger.warn(`reading the Postgres catalog failed: ${(error as Error).message}; ${wait}`, { phase: 'catalog' });
        },
      });

    /**
     * One table as insert (and checkpoint) messages. A transient error while reading (connection
     * lost, server restarted) reconnects with backoff and goes on after the last row emitted, when
     * the rows come in a unique order: resumable reads (primary key), incremental tables with a
     * primary key (cursor, then key) and a NOT NULL cursor. Other reads are restarted only if they
     * have emitted nothing yet; otherwise the table fails (a rerun resumes from committed state).
     */
    async function* readTable(
      t: PgTable,
      schema: A.Schema,
      saved: string | undefined,
      signal: AbortSignal,
      shard: Shard | undefined,
      stateKey: string,
    ): AsyncIterable<SyncMessage> {
      const select = t.columns.map((col) => (col.expr === quoteIdent(col.name) ? col.expr : `${col.expr} AS ${quoteIdent(col.name)}`)).join(', ');
      const cursorCol = t.cursor ? t.columns.find((x) => x.name === t.cursor)! : undefined;
      const pkCols = t.pk.map((k) => t.columns.find((x) => x.name === k)!);
      // the row order: by cursor (then key, so ties have an order too), or by key for resumable reads
      const orderCols = cursorCol ? [cursorCol, ...pkCols] : t.resumable ? pkCols : [];
      const canResume = orderCols.length > 0 && pkCols.length > 0 && orderCols.every((c) => c.notNull || t.pk.includes(c.name));
      const where = (c: pg.Client, after: string[] | undefined): string => {
        const w: string[] = [];
        // --shard n/t: hash ranges of the primary key (or of the whole row), so every table is split
        if (shard) {
          const key = t.pk.length ? `(${t.pk.map((k) => quoteIdent(k)).join(', ')})` : `${quoteIdent(t.table)}.*`;
          w.push(`mod(mod(hashtextextended(row(${key})::text, 0), ${shard.total}) + ${shard.total}, ${shard.total}) = ${shard.num - 1}`);
        }
        if (cursorCol && saved !== undefined) w.push(`${quoteIdent(cursorCol.name)} >= ${c.escapeLiteral(saved)}::${cursorCol.type}`);
        // resumable full reads: primary-key order, resuming strictly after the last committed key
        if (t.resumable && saved) {
          const last = JSON.parse(saved) as string[];
          w.push(`(${pkCols.map((k) => quoteIdent(k.name)).join(', ')}) > (${pkCols.map((k, i) => `${c.escapeLiteral(last[i]!)}::${k.type}`).join(', ')})`);
        }
        // after a lost connection: strictly after the last row emitted
        if (after)
          w.push(
            `(${orderCols.map((k) => quoteIdent(k.name)).join(', ')}) > (${orderCols.map((k, i) => `${c.escapeLiteral(after[i]!)}::${k.type}`).join(', ')})`,
          );
        return w.length ? ` WHERE ${w.join(' AND ')}` : '';
      };
      const orderBy = orderCols.length ? ` ORDER BY ${orderCols.map((k) => quoteIdent(k.name)).join(', ')}` : '';
      const cursorIdx = cursorCol ? schema.fields.findIndex((f) => f.name === cursorCol.name) : -1;
      const pkIdx = t.resumable ? pkCols.map((k) => schema.fields.findIndex((f) => f.name === k.name)) : [];
      const orderIdx = orderCols.map((k) => schema.fields.findIndex((f) => f.name === k.name));
      let batchNo = 0;
      let emittedRows = 0;
      /** the order key of the last row emitted (texts Postgres casts back) */
      let lastEmitted: string[] | undefined;
      /** an order column whose values have no text form (cannot be resumed after) */
      let keyless = false;

      for (let attempt = 1; ; attempt++) {
        const c = await connectRetrying(`${t.schema}.${t.table}`);
        const sql = `SELECT ${select} FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)}${where(c, lastEmitted)}${orderBy}`;
        const decoders: ColumnDecoder[] = schema.fields.map((f) => {
          const col = t.columns.find((x) => x.name === f.name)!;
          return decoderFor(f, col.expr === quoteIdent(col.name) ? col.type : 'text');
        });
        const parser = new CopyTupleParser(decoders);
        const stream = c.query(copyTo(`COPY (${sql}) TO STDOUT (FORMAT binary)`));
        let rows = 0;
        // each batch with the cursor of its last row (rows arrive in cursor order) and its order key
        const ready: { batch: A.RecordBatch; cursor?: string; key?: string[] }[] = [];
        const cut = (): void => {
          const n = decoders[0]!.length;
          const cursor =
            cursorIdx >= 0 ? decoders[cursorIdx]!.lastText() : pkIdx.length ? JSON.stringify(pkIdx.map((i) => decoders[i]!.lastText())) : undefined;
          const key = canResume ? orderIdx.map((i) => decoders[i]!.lastText() as string) : undefined;
          const children = decoders.map((d) => d.finish());
          ready.push({ batch: new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children })), cursor, key });
        };
        function* drain(): Generator<SyncMessage> {
          while (ready.length && !signal.aborted) {
            const r = ready.shift()!;
            yield { kind: 'insert', table: t.cqName, batch: r.batch };
            emittedRows += r.batch.numRows;
            lastEmitted = r.key;
            if (canResume && (!r.key || r.key.some((k) => k === undefined))) keyless = true;
            if (r.cursor !== undefined) yield { kind: 'checkpoint', id: `${t.cqName}:${++batchNo}`, table: t.cqName, state: { [stateKey]: r.cursor } };
          }
        }
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            parser.feed(chunk, () => {
              if (++rows % batchRows === 0) cut();
            });
            yield* drain();
            if (signal.aborted) {
              stream.destroy();
              return;
            }
          }
          if (decoders[0]!.length > 0) {
            cut();
            yield* drain();
          }
          break;
        } catch (err) {
          if (signal.aborted) return;
          if (err instanceof DecodeError) throw new SourceReadError(`${t.schema}.${t.table}: ${err.message}`, { connector: ctx.name, table: t.cqName }, err);
          const transient = isTransient(err);
          const reason = (err as Error).message;
          const failed = new SourceReadError(`reading ${t.schema}.${t.table} failed: ${reason}`, { connector: ctx.name, table: t.cqName }, err, undefined, {
            retryable: transient,
          });
          // a generator yields between tries, so it cannot be one function for retry(): retryAfter decides and waits
          await retryAfter(failed, attempt, {
            attempts: DEFAULT_ATTEMPTS,
            onRetry: async ({ retry: n, retries, delayMs }) => {
              if (emittedRows > 0 && (!canResume || keyless)) {
                throw new SourceReadError(
                  `reading ${t.schema}.${t.table} failed after ${emittedRows} rows: ${reason}; a read in no unique order cannot go on where it stopped`,
                  { connector: ctx.name, table: t.cqName },
                  err,
                  t.pk.length
                    ? 'set resumable: true on this table (full reads in key order), or rerun: an incremental table resumes from its committed cursor'
                    : 'give the table a primary key, or rerun the sync',
                  { retryable: true },
                );
              }
              await dropClient();
              const wait = `retry ${n}/${retries} in ${Math.round(delayMs)} ms`;
              const where = emittedRows ? 'after the last row emitted' : 'from the start';
              ctx.logger.warn(`lost the connection reading ${t.schema}.${t.table}: ${reason}; ${wait}, ${where} (${emittedRows} rows emitted)`, {
                table: t.cqName,
              });
            },
          });
        }
      }
      // a finished resumable read forgets its keyset position
      if (t.resumable && !signal.aborted) yield { kind: 'checkpoint', id: `${t.cqName}:done`, table: t.cqName, state: { [stateKey]: '' } };
    }

    const partial = new Set<string>();
    return {
      // --shard n/t splits every table into hash ranges
      shardsItself: true,
      partialTables: () => partial,
      async tables() {
        tables ??= catalog();
        return (await tables).map((t) => t.arrow!);
      },
      async *read(selected, opts): AsyncIterable<SyncMessage> {
        tables ??= catalog();
        const all = await tables;
        for (const schema of selected) {
          const t = all.find((x) => x.cqName === tableName(schema));
          if (!t) continue;
          try {
            // each shard keeps its own cursor for its hash range
            const base = t.resumable ? `${t.cqName}#resume` : t.cqName;
            const stateKey = opts.shard ? `${base}#${opts.shard.num}/${opts.shard.total}` : base;
            const saved = t.cursor || t.resumable ? opts.state.get(stateKey) : undefined;
            if (t.resumable && saved) {
              partial.add(t.cqName);
              ctx.logger.info(`resuming the read of ${t.schema}.${t.table} after key ${saved}`, { table: t.cqName });
            }
            yield* readTable(t, schema, saved, opts.signal, opts.shard, stateKey);
          } catch (err) {
            if (opts.signal.aborted) return;
            const e = err instanceof CqPipeError ? err : toCqPipeError(err, { table: t.cqName });
            yield { kind: 'table-error', table: t.cqName, error: tableFailure(e) };
          }
        }
      },
      async close() {
        await client?.end().catch(() => {});
      },
    };
  },
});
