/**
 * One destination plan for sync, write, migrate and tables (lib/destination-plan.ts), and the
 * engine's own keys (lib/config/engine-keys.ts): checked through the CLI against a real Postgres
 * and a destination module that declares no batch keys.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { tmpDir } from './helpers/index.js';
import { loadConfig } from '../index.js';
import { destinationPlan, plannedSchemas, withInternalColumns } from '../lib/destination-plan.js';
import { tableName } from '../lib/schema.js';
import { openSource } from '../lib/pipeline.js';
import { silentLogger } from '../lib/logger.js';

const TRANSFORMED = (url: string) => `kind: source
spec: { name: demo, path: test, destinations: [pg], spec: { num_tables: 2, num_rows: 25 } }
---
kind: destination
spec:
  name: pg
  path: postgresql
  transformers: [shape]
  spec: { connection_string: "${url}" }
---
kind: transformer
spec:
  name: shape
  path: basic
  spec:
    transformations:
      - { kind: change_table_names, tables: ["*"], new_table_name_template: "renamed_{{.OldName}}" }
      - { kind: remove_columns, tables: ["renamed_*"], columns: [utf8_col, uuid_col] }
`;

/** "CREATE TABLE IF NOT EXISTS "public"."t" ("a" bigint NOT NULL, "b" text)" → { t: [a, b] } */
function createdColumns(ddl: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const m of ddl.matchAll(/CREATE TABLE IF NOT EXISTS "public"\."([^"]+)" \((.*)\);?$/gm)) {
    out[m[1]!] = [...m[2]!.matchAll(/(?:^|, )"([^"]+)" /g)].map((c) => c[1]!);
  }
  return out;
}

t.test('migrate --plan under a renaming and column-removing transformer prints exactly what sync creates', async (t) => {
  const url = await freshDatabase();
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'sync.yml');
  await writeFile(cfg, TRANSFORMED(url));

  const plan = await cli(['migrate', cfg, '--plan']);
  t.equal(plan.code, 0, plan.stderr);
  const planned = createdColumns(plan.stdout);
  t.same(Object.keys(planned).sort(), ['renamed_test_table_0', 'renamed_test_table_1'], 'the plan creates the renamed tables only');
  t.notOk(planned.renamed_test_table_0!.includes('utf8_col'), 'the removed column is not planned');
  t.ok(planned.renamed_test_table_0!.includes('_cq_id') && planned.renamed_test_table_0!.includes('bool_col'));
  t.equal((await query(url, "SELECT * FROM pg_tables WHERE schemaname = 'public'")).length, 0, '--plan created nothing');

  const sync = await cli(['sync', cfg, '--no-progress']);
  t.equal(sync.code, 0, sync.stderr);
  const cols = await query<{ table_name: string; column_name: string }>(
    url,
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
  );
  const created: Record<string, string[]> = {};
  for (const c of cols) (created[c.table_name] ??= []).push(c.column_name);
  t.same(created, planned, 'sync created exactly the planned tables and columns, in order');
  t.equal(Number((await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM renamed_test_table_1'))[0]!.n), 25);

  const again = await cli(['migrate', cfg, '--plan']);
  t.equal(again.code, 0, again.stderr);
  t.equal(again.stdout.match(/-- nothing to do/g)?.length, 1, 'after the sync, the plan has nothing left to do');
});

t.test('destinationPlan: the schemas a destination receives go through its transformers and write mode', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'sync.yml');
  await writeFile(cfg, TRANSFORMED('postgres://u:p@127.0.0.1:1/none').replace('spec: { connection_string', 'write_mode: append\n  spec: { connection_string'));
  const config = await loadConfig([cfg], { requireDestinations: true, env: {} });
  const dest = config.destinations[0]!;
  t.equal(dest.write_mode, 'append');
  const plan = await destinationPlan(dest, config, { syncTime: new Date(), invocationId: 'x' });
  t.same(plan.caps, { rows: 10000, bytes: 100_000_000, timeoutMs: 60_000 }, 'the connector defaults, none set');
  const { client, tables } = await openSource(config.sources[0]!, {
    logger: silentLogger,
    invocationId: 'x',
    syncTime: new Date(),
    registry: config.registry!,
  });
  await client.close?.();
  t.same(tables.map(tableName), ['test_table_0', 'test_table_1']);
  const schemas = await plannedSchemas(plan, withInternalColumns(tables));
  t.same(schemas.map(tableName), ['renamed_test_table_0', 'renamed_test_table_1']);
  const s0 = schemas[0]!;
  t.notOk(s0.fields.some((f) => f.name === 'utf8_col'));
  t.same(
    s0.fields.filter((f) => f.metadata.get('cq:extension:primary_key') === 'true').map((f) => f.name),
    [],
    'append strips keys',
  );
});

const MODULE_DEST = `
// a destination module that knows nothing of the engine's batch keys
import { appendFileSync } from 'node:fs';
export default {
  kind: 'destination',
  name: 'recorder',
  configSchema: { type: 'object', additionalProperties: false, properties: { out: { type: 'string' } } },
  capabilities: { writeModes: ['append'], batch: { rows: 1000, bytes: 1 << 30, timeoutMs: 60000 } },
  create(spec) {
    appendFileSync(spec.out, JSON.stringify({ spec }) + '\\n');
    return {
      async migrateTables() { return []; },
      async writeBatch(table, batches) { appendFileSync(spec.out, JSON.stringify({ rows: batches.reduce((n, b) => n + b.numRows, 0) }) + '\\n'); },
      async close() {},
    };
  },
};
`;

const moduleConfig = (out: string, batch: string) => `kind: source
spec: { name: demo, path: test, destinations: [rec], spec: { num_tables: 1, num_rows: 20 } }
---
kind: destination
spec:
  name: rec
  path: ./recorder.mjs
  write_mode: append
  spec: { out: "${out}", ${batch} }
`;

t.test('a module destination without the batch keys: the engine validates, parses and applies them', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'recorder.mjs'), MODULE_DEST);
  const out = path.join(dir, 'calls.jsonl');

  await writeFile(path.join(dir, 'bad.yml'), moduleConfig(out, 'batch_timeout: "soon"'));
  for (const cmd of ['validate-config', 'sync']) {
    const r = await cli([cmd, 'bad.yml'], { cwd: dir });
    t.equal(r.code, 2, `${cmd}: a config error, not an internal one`);
    t.match(r.stderr, /CQ_ERR_CONFIG_INVALID/);
    t.match(r.stderr, /spec\.spec\.batch_timeout/);
    t.notMatch(r.stderr, /CQ_ERR_INTERNAL/);
  }

  await writeFile(path.join(dir, 'good.yml'), moduleConfig(out, 'batch_size: 7, batch_timeout: 2s'));
  const r = await cli(['sync', 'good.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const calls = (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { spec?: object; rows?: number });
  t.same(calls[0], { spec: { out } }, 'the connector receives its own keys only');
  t.same(
    calls.slice(1).map((c) => c.rows),
    [7, 7, 6],
    'batches close at batch_size: 7',
  );
});
