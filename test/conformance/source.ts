/**
 * The source conformance suite: what every source connector must do for the engine —
 * tables carry names and keys, batches match their table's schema, counts are exact and
 * repeatable, and reading stops promptly on abort.
 */
import type { Test } from 'tap';
import type * as A from 'apache-arrow';
import type { SourceConnector } from '../../lib/connector.js';
import type { SyncMessage } from '../../lib/messages.js';
import { MD_TABLE_NAME, tableName } from '../../lib/schema.js';
import { silentLogger } from '../../lib/logger.js';
import { ROOT } from '../helpers/index.js';

export interface SourceAdapter {
  // biome-ignore lint/suspicious/noExplicitAny: adapters for connectors of every spec type
  connector: SourceConnector<any>;
  spec(t: Test): Promise<Record<string, unknown>>;
  /** expected tables and row counts */
  expected: Record<string, number>;
}

const ctx = () => ({ name: 'conformance', logger: silentLogger, baseDir: ROOT, invocationId: 'inv', syncTime: new Date() });

async function readAll(
  client: { read(t: A.Schema[], o: { signal: AbortSignal; state: Map<string, string> }): AsyncIterable<SyncMessage> },
  tables: A.Schema[],
) {
  const counts: Record<string, number> = {};
  const msgs: SyncMessage[] = [];
  for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) {
    msgs.push(m);
    if (m.kind === 'insert') counts[m.table] = (counts[m.table] ?? 0) + m.batch.numRows;
  }
  return { counts, msgs };
}

export function runSourceSuite(t: Test, adapter: SourceAdapter): void {
  const name = adapter.connector.name;

  t.test(`${name}: tables carry cq:table_name`, async (t) => {
    const client = await adapter.connector.create(await adapter.spec(t), ctx());
    const tables = await client.tables();
    t.same(tables.map(tableName).sort(), Object.keys(adapter.expected).sort());
    t.ok(tables.every((s) => s.metadata.has(MD_TABLE_NAME)));
    await client.close?.();
  });

  t.test(`${name}: batches match their table schema, counts are exact and repeatable`, async (t) => {
    const spec = await adapter.spec(t);
    const client = await adapter.connector.create(spec, ctx());
    const tables = await client.tables();
    const { counts, msgs } = await readAll(client, tables);
    t.same(counts, adapter.expected);
    t.equal(msgs.filter((m) => m.kind === 'table-error').length, 0, 'no table errors');
    for (const m of msgs) {
      if (m.kind !== 'insert') continue;
      const schema = tables.find((s) => tableName(s) === m.table)!;
      t.same(
        m.batch.schema.fields.map((f) => `${f.name}:${f.type}`),
        schema.fields.map((f) => `${f.name}:${f.type}`),
        `batch of ${m.table} has its table's columns`,
      );
      t.equal(m.batch.schema.metadata.get(MD_TABLE_NAME), m.table, 'batch names its table');
      break;
    }
    const second = await adapter.connector.create(spec, ctx());
    try {
      const again = await readAll(second, tables);
      t.same(again.counts, counts, 'a second read gives the same counts');
    } finally {
      await second.close?.();
    }
    await client.close?.();
  });

  t.test(`${name}: stops promptly on abort`, async (t) => {
    const client = await adapter.connector.create(await adapter.spec(t), ctx());
    const tables = await client.tables();
    const ac = new AbortController();
    let after = 0;
    for await (const m of client.read(tables, { signal: ac.signal, state: new Map() })) {
      if (ac.signal.aborted) after++;
      if (m.kind === 'insert') ac.abort();
    }
    t.ok(after <= 1, `at most one message after abort (got ${after})`);
    await client.close?.();
  });
}
