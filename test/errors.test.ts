import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ERROR_CODES,
  AbortedError,
  ConfigError,
  ConnectorNotFoundError,
  CqPipeError,
  DestinationWriteError,
  InternalError,
  SchemaIncompatibleError,
  SourceDataError,
  SourceReadError,
  StateConflictError,
  StateError,
  TablePatternError,
  TransformError,
  UnsupportedError,
  UsageError,
  isErrorCode,
  tableFailure,
  toCqPipeError,
  type ErrorCode,
} from '../lib/errors.js';
import { transformFailure } from '../lib/transformer.js';
import { tableErrorFromPipe } from '../lib/pipe/arrow-stream.js';
import { syncStatus } from '../lib/pipeline.js';
import { exitCodeOf, exitCodeOfSync } from '../bin/exit-codes.js';
import { ROOT } from './helpers/index.js';

/** one error of each class, by the code it carries */
const ONE_OF_EACH: Record<ErrorCode, CqPipeError> = {
  CQ_ERR_CONFIG_INVALID: new ConfigError('x'),
  CQ_ERR_CONNECTOR_NOT_FOUND: new ConnectorNotFoundError('x', []),
  CQ_ERR_USAGE: new UsageError('x'),
  CQ_ERR_TABLE_PATTERN: new TablePatternError('x'),
  CQ_ERR_SOURCE_DATA: new SourceDataError('x'),
  CQ_ERR_SOURCE_READ: new SourceReadError('x'),
  CQ_ERR_STATE: new StateError('x'),
  CQ_ERR_STATE_CONFLICT: new StateConflictError('x'),
  CQ_ERR_TRANSFORM: new TransformError('x'),
  CQ_ERR_SCHEMA_INCOMPATIBLE: new SchemaIncompatibleError('x'),
  CQ_ERR_DEST_WRITE: new DestinationWriteError('x'),
  CQ_ERR_UNSUPPORTED: new UnsupportedError('x'),
  CQ_ERR_ABORTED: new AbortedError(),
  CQ_ERR_INTERNAL: new InternalError('x'),
};

t.test('every error code is documented in docs/errors.md, with its exit code and default scope', async (t) => {
  const doc = await readFile(path.join(ROOT, 'docs/errors.md'), 'utf8');
  const rows = new Map<string, { exit: number; scope: string }>();
  for (const m of doc.matchAll(/^\| `(CQ_ERR_\w+)` \| (\d) \| (\w+) \|/gm)) rows.set(m[1]!, { exit: Number(m[2]), scope: m[3]! });
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    t.ok(doc.includes(`\`${code}\``), code);
    const e = ONE_OF_EACH[code];
    t.equal(e.code, code, `${e.name} carries ${code}`);
    t.same(rows.get(code), { exit: exitCodeOf(e), scope: e.scope }, `${code}: documented exit code and scope`);
  }
  t.same(
    [...rows.keys()].filter((c) => !isErrorCode(c)),
    [],
    'no documented code that does not exist',
  );
});

t.test('errors carry code, context, scope and retryable; instanceof works by symbol', async (t) => {
  const e = new ConfigError('bad', { file: 'a.yml', document: 2, keyPath: 'spec.x', line: 4 });
  t.equal(e.code, 'CQ_ERR_CONFIG_INVALID');
  t.equal(exitCodeOf(e), 2);
  t.equal(e.where(), 'a.yml:4, document 2, key spec.x');
  t.ok(e instanceof CqPipeError);
  t.notOk(new Error('x') instanceof CqPipeError);
  t.equal(toCqPipeError(new Error('boom')).code, 'CQ_ERR_INTERNAL');
  t.ok(toCqPipeError(new Error('boom')) instanceof InternalError);
  t.equal(toCqPipeError(e), e);
  t.equal(e.scope, 'sync');
  t.equal(e.retryable, false);
  t.equal(new SourceDataError('x').scope, 'table');
  t.equal(new DestinationWriteError('x').scope, 'destination');
  t.equal(new SourceReadError('x', {}, undefined, undefined, { retryable: true }).retryable, true);
  t.equal(new DestinationWriteError('x', {}, undefined, { scope: 'table' }).scope, 'table');
  t.equal(exitCodeOf(new Error('plain')), 1);
  t.equal(exitCodeOf('not an error'), 1);
});

t.test('tableFailure returns a table-scoped copy and leaves the original alone', async (t) => {
  const cause = new Error('constraint');
  const e = new SchemaIncompatibleError('no such column', { connector: 'pg', table: 'items', column: 'x' }, 'add it');
  const copy = tableFailure(e);
  t.not(copy, e);
  t.equal(e.scope, 'destination', 'the original is not changed');
  t.equal(copy.scope, 'table');
  t.ok(copy instanceof SchemaIncompatibleError);
  t.equal(copy.name, 'SchemaIncompatibleError');
  t.equal(copy.message, e.message);
  t.equal(copy.hint, 'add it');
  t.same(copy.context, e.context);
  t.equal(copy.stack, e.stack);
  t.equal(copy.where(), e.where());
  const w = new DestinationWriteError('boom', { table: 't' }, cause);
  t.equal(tableFailure(w).cause, cause);
  t.equal(tableFailure(w).retryable, false);
  const noTable = new DestinationWriteError('down');
  t.equal(tableFailure(noTable), noTable, 'without a table there is nothing to confine it to');
  t.throws(
    () => {
      (copy as { scope: string }).scope = 'sync';
    },
    TypeError,
    'the scope of the copy is read-only',
  );
});

t.test('a table-error from a pipe keeps only known codes', async (t) => {
  const known = tableErrorFromPipe('CQ_ERR_SOURCE_DATA', 'bad row', { file: 'a.csv', line: 3, extra: 1, table: 7 });
  t.equal(known.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(known.message, 'bad row');
  t.same(known.context, { file: 'a.csv', line: 3 }, 'only known keys of the right type');
  t.equal(known.scope, 'table');
  const invented = tableErrorFromPipe('MY_OWN_CODE', 'it broke');
  t.equal(invented.code, 'CQ_ERR_SOURCE_READ');
  t.equal(invented.message, 'MY_OWN_CODE: it broke');
  const none = tableErrorFromPipe(undefined, 'it broke');
  t.equal(none.code, 'CQ_ERR_SOURCE_READ');
  t.equal(none.message, 'it broke');
});

t.test('a built-in transformer failing on data is CQ_ERR_TRANSFORM; config problems stay config errors', async (t) => {
  const ctx = { name: 'flat', origin: { file: 'sync.yml', document: 3 } };
  const e = transformFailure(ctx, 'items', new RangeError('offset out of bounds'));
  t.equal(e.code, 'CQ_ERR_TRANSFORM');
  t.equal(e.message, 'transformer flat: table items: offset out of bounds');
  t.same(e.context, { connector: 'transformer flat', table: 'items', file: 'sync.yml', document: 3 });
  t.equal(exitCodeOf(e), 1);
  const config = new ConfigError('does not fit');
  t.equal(transformFailure(ctx, 'items', config), config);
});

t.test('sync status and its exit code', async (t) => {
  t.equal(syncStatus(undefined, [], 0), 'succeeded');
  t.equal(syncStatus(undefined, [], 5), 'rows-rejected');
  t.equal(syncStatus(undefined, [new SourceDataError('x')], 5), 'failed');
  t.equal(syncStatus(new DestinationWriteError('x'), [], 0), 'failed');
  t.equal(syncStatus(new UnsupportedError('x'), [], 0), 'config-error');
  t.equal(syncStatus(new StateConflictError('x'), [], 0), 'failed');
  t.same(
    (['succeeded', 'failed', 'config-error', 'rows-rejected'] as const).map((status) => exitCodeOfSync({ status })),
    [0, 1, 2, 3],
  );
});

t.test('former plain errors are typed', async (t) => {
  const A = await import('apache-arrow');
  const { tableName, defineTable } = await import('../lib/schema.js');
  const { assertNever } = await import('../lib/messages.js');
  const { atOrPast } = await import('../connectors/file/incremental.js');
  t.throws(() => tableName(new A.Schema([])), { code: 'CQ_ERR_SCHEMA_INCOMPATIBLE', message: 'schema has no cq:table_name metadata' });
  t.throws(() => (assertNever as (x: unknown) => never)({ kind: 'nope' }), { code: 'CQ_ERR_INTERNAL', message: /unexpected message/ });
  const schema = defineTable({ name: 't', columns: [{ name: 'id', type: 'int64' }] });
  const children = [A.makeData({ type: new A.Int64(), length: 0 })];
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 0, nullCount: 0, children }));
  t.throws(() => [...atOrPast(batch, 'updated_at', undefined)], { code: 'CQ_ERR_SOURCE_DATA', context: { column: 'updated_at' } });
  t.throws(() => [...atOrPast(batch, 'id', 'not a number')], { code: 'CQ_ERR_STATE', message: /^the saved cursor "not a number" of column id cannot be read/ });
});

t.test('instanceof a subclass is not true of every CqPipeError', async (t) => {
  const data = new SourceDataError('x');
  t.ok(data instanceof CqPipeError);
  t.ok(data instanceof SourceDataError);
  t.notOk(data instanceof DestinationWriteError);
  t.notOk(data instanceof SchemaIncompatibleError);
  t.notOk(new DestinationWriteError('y') instanceof SourceDataError);
  const scoped = tableFailure(new DestinationWriteError('z', { table: 't' }));
  t.ok(scoped instanceof DestinationWriteError, 'a table-scoped copy keeps its class');
  t.notOk(scoped instanceof SchemaIncompatibleError);
});
