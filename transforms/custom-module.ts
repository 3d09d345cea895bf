/**
 * Custom transformers: a JS module named by a transformer's `path`, exporting an async generator
 * `(messages, ctx) => AsyncIterable` (docs/transformers.md, "Custom modules"); `moduleTransformer`
 * is its descriptor in the registry (transforms/index.ts).
 *
 *   kind: transformer
 *   spec:
 *     name: tag
 *     path: ./transforms/tag.js       # relative to this config file's directory
 *     spec: { label: nightly }        # free-form; handed to the module as ctx.spec
 *
 * The contract — what flows through it — is the destination branch's message stream:
 *
 *   export default async function* (messages, ctx) {
 *     for await (const msg of messages) {
 *       // msg: { kind: 'migrate-table', table: Schema } | { kind: 'insert', table, batch: RecordBatch }
 *       //    | { kind: 'delete-stale', table, sourceName, syncTime } | { kind: 'checkpoint', id, state }
 *       //    | { kind: 'delete-record', table, where: [{ grouping: 'and' | 'or', predicates:
 *       //        [{ operator: 'eq', column, value: RecordBatch (one row, one column) }] }],
 *       //        relations: [{ table, parent }] }
 *       //    | { kind: 'table-error', table, error } | { kind: 'sync-end' }
 *       yield msg;
 *     }
 *   }
 *
 * (a named export `transform` is used when there is no default export). The function receives
 * every message of the destination branch, in order, after the reserved `_cq_*` columns were added
 * and before write-mode rewriting and batching, and yields the messages the destination should
 * see. It may rewrite, drop, split or add inserts, and change schemas — then it must also yield the
 * matching `migrate-table` (a schema change reaches the destination only as a migration). It should
 * pass control messages through in order: a dropped `checkpoint` holds that destination's
 * incremental cursor back (safe, never ahead of committed rows); a `delete-stale` it drops
 * deletes nothing; renaming a table means renaming its `delete-stale` too, and its `delete-record`
 * (its `table`, and the `table`/`parent` of its relations). A `delete-record` is a source-driven
 * delete (docs/semantics.md): dropping it keeps the rows it would delete; a destination that cannot
 * delete (file, s3) fails its table, so a module may drop them on purpose for such a destination.
 *
 * For convenience a bare Arrow RecordBatch may be yielded: it is an insert into the table its
 * schema names (`cq:table_name`). An insert whose batch lacks that metadata gets it from `table`;
 * zero-row inserts are dropped. Anything else — and anything the module throws — is a
 * TransformError (CQ_ERR_TRANSFORM) naming the transformer. `ctx` carries `name`, `destination`,
 * `spec`, `logger`, `baseDir`, `syncTime` and `invocationId`.
 *
 * Modules are loaded with `import()`: `.js`/`.mjs` (ESM) or `.cjs`; a `.ts` module needs Node run
 * with a TypeScript loader (e.g. `node --import tsx`), or compile it first. The module's own
 * `apache-arrow` copy is fine: batches are recognised by shape, not by class.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as A from 'apache-arrow';
import { MESSAGE_KINDS, type SyncMessage } from '../lib/messages.js';
import type { Logger } from '../lib/logger.js';
import { ConfigError, CqPipeError, TransformError, type ErrorContext } from '../lib/errors.js';
import { MD_TABLE_NAME, relabel, withTableName } from '../lib/schema.js';
import { defineTransformer, type MessageStage, type TransformerDefinition } from '../lib/transformer.js';

export interface TransformContext {
  /** the transformer's name in config */
  name: string;
  /** the destination whose branch this instance runs in */
  destination: string;
  /** the transformer document's inner `spec` (free-form for modules) */
  spec: Readonly<Record<string, unknown>>;
  logger: Logger;
  /** directory of the config file that defined the transformer */
  baseDir: string;
  syncTime?: Date;
  invocationId?: string;
}

/** What a custom transformer module exports. */
export type TransformFunction = (messages: AsyncIterable<SyncMessage>, ctx: TransformContext) => AsyncIterable<SyncMessage | A.RecordBatch>;

export function looksLikeModulePath(p: string): boolean {
  return p.startsWith('.') || p.startsWith('/') || /\.(m?js|cjs|ts|mts)$/.test(p);
}

/** Resolve and import a transformer module; errors are ConfigErrors naming the path. */
export async function loadTransformModule(p: string, baseDir: string, context: ErrorContext = {}): Promise<TransformFunction> {
  const url = p.startsWith('.') || p.startsWith('/') ? pathToFileURL(path.resolve(baseDir, p)).href : p;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError(`cannot load transformer module "${p}": ${reason}`, context, `module paths resolve against the config file's directory (${baseDir})`);
  }
  const fn = (typeof mod.default === 'function' ? mod.default : mod.transform) as unknown;
  if (typeof fn !== 'function') {
    throw new ConfigError(
      `transformer module "${p}" exports no transform function`,
      context,
      'export default async function* (messages, ctx) { for await (const m of messages) yield m; }',
    );
  }
  return fn as TransformFunction;
}

function isBatch(x: unknown): x is A.RecordBatch {
  return typeof x === 'object' && x !== null && 'schema' in x && 'data' in x && typeof (x as { numRows?: unknown }).numRows === 'number';
}
function isSchema(x: unknown): x is A.Schema {
  return typeof x === 'object' && x !== null && Array.isArray((x as A.Schema).fields) && (x as A.Schema).metadata instanceof Map;
}

/** Wrap a module function as a message stage that checks what it yields. */
export function moduleStage(fn: TransformFunction, ctx: TransformContext): MessageStage {
  const context: ErrorContext = { connector: ctx.destination, phase: `transformer ${ctx.name}` };
  const bad = (what: string) => new TransformError(`transformer ${ctx.name} yielded ${what}`, context);
  const insertOf = (table: string, batch: A.RecordBatch): SyncMessage => {
    const named = batch.schema.metadata.get(MD_TABLE_NAME);
    if (named === undefined) return { kind: 'insert', table, batch: relabel(batch, withTableName(batch.schema, table)) };
    if (named !== table) throw bad(`an insert for table ${table} whose batch schema names table ${named}`);
    return { kind: 'insert', table, batch };
  };
  return async function* custom(source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    let out: AsyncIterable<SyncMessage | A.RecordBatch>;
    try {
      out = fn(source, ctx);
    } catch (err) {
      throw wrap(err);
    }
    if (!out || typeof (out as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
      throw bad('no async iterable (export an async generator function)');
    }
    const it = (out as AsyncIterable<SyncMessage | A.RecordBatch>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        let r: IteratorResult<SyncMessage | A.RecordBatch>;
        try {
          r = await it.next();
        } catch (err) {
          throw wrap(err);
        }
        if (r.done) break;
        const v = r.value as unknown;
        if (isBatch(v)) {
          const table = v.schema.metadata.get(MD_TABLE_NAME);
          if (!table) throw bad('a RecordBatch whose schema has no cq:table_name (yield { kind: "insert", table, batch } instead)');
          if (v.numRows > 0) yield { kind: 'insert', table, batch: v };
          continue;
        }
        const m = v as SyncMessage;
        if (typeof m !== 'object' || m === null || !MESSAGE_KINDS.includes(m.kind)) {
          const what = typeof v === 'object' && v !== null ? `an object with kind ${JSON.stringify((v as { kind?: unknown }).kind)}` : JSON.stringify(v);
          throw bad(`${what}, not a sync message`);
        }
        if (m.kind === 'insert') {
          if (typeof m.table !== 'string' || !isBatch(m.batch)) throw bad('an insert without a table name and a RecordBatch');
          if (m.batch.numRows > 0) yield insertOf(m.table, m.batch);
          continue;
        }
        if (m.kind === 'migrate-table' && (!isSchema(m.table) || !m.table.metadata.get(MD_TABLE_NAME))) {
          throw bad('a migrate-table whose table is not an Arrow schema with cq:table_name');
        }
        yield m;
      }
    } finally {
      // stop the module (and, through it, the upstream) when the consumer stops early
      await it.return?.();
    }
  };

  function wrap(err: unknown): CqPipeError {
    if (err instanceof CqPipeError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new TransformError(`transformer ${ctx.name} failed: ${msg}`, context, err);
  }
}

/**
 * The descriptor of the module at `modulePath` (resolved against `baseDir`): `validate` checks that
 * it loads and exports a function (a problem at `path` otherwise), `create` loads it and wraps it
 * with `moduleStage`; the spec is free-form and handed to the module as ctx.spec.
 */
export function moduleTransformer(modulePath: string, baseDir: string): TransformerDefinition<Record<string, unknown>> {
  return defineTransformer<Record<string, unknown>>({
    name: modulePath,
    async validate() {
      try {
        await loadTransformModule(modulePath, baseDir);
        return [];
      } catch (err) {
        const e = err as ConfigError;
        return [{ keyPath: ['path'], message: e.message, ...(e.hint ? { hint: e.hint } : {}) }];
      }
    },
    async create(spec, ctx) {
      const where: ErrorContext = { file: ctx.origin.file, document: ctx.origin.document, keyPath: 'spec.path', connector: `transformer ${ctx.name}` };
      const fn = await loadTransformModule(modulePath, baseDir, where);
      return moduleStage(fn, {
        name: ctx.name,
        destination: ctx.destination,
        spec,
        logger: ctx.logger,
        baseDir,
        syncTime: ctx.syncTime,
        invocationId: ctx.invocationId,
      });
    },
  });
}
