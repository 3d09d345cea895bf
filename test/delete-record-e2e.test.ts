/**
 * Source-driven deletes end to end through `cq-pipe sync` into real Postgres (docs/plugins.md,
 * "Source-driven deletes"; docs/postgresql.md): a plugin source built on the generated stubs sends
 * a `delete_record` between its inserts over `registry: grpc`, and `cloudquery/test` sends its
 * `delete_records` after every row; what Postgres holds afterwards is counted with SQL, in each
 * write mode (overwrite-delete-stale stages full tables for a bulk replace, so the delete must see
 * the staged rows).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import t from 'tap';
import { encodeRecord, encodeSchema } from '../connectors/cloudquery-plugin/arrow-wire.js';
import { v3 } from '../connectors/cloudquery-plugin/serve/grpc.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { defineTable } from '../lib/schema.js';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { serveRawSync } from './helpers/raw-sync-plugin.js';

const THINGS = defineTable({
  name: 'things',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'name', type: 'utf8' },
  ],
});

function insert(ids: bigint[]): InstanceType<typeof v3.Sync.Response> {
  const b = new RowBatchBuilder(THINGS);
  for (const id of ids) b.push({ id, name: `thing ${id}` });
  return new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({ record: encodeRecord(b.finish()) }) });
}

/** `id = v` as a Go plugin sends it: one column, one row, in an IPC stream */
function idEquals(v: bigint): { operator: number; column: string; record: Uint8Array } {
  const field = new A.Field('id', new A.Int64(), true);
  const schema = new A.Schema([field], new Map([['cq:table_name', 'things']]));
  const vec = A.vectorFromArray([v], field.type);
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct([field]), length: 1, children: [vec.data[0]!] }));
  return { operator: 0, column: 'id', record: A.tableToIPC(new A.Table([batch]), 'stream') };
}

const BIG = 9007199254740993n; // 2^53 + 1: exact only if never a JS number

for (const writeMode of ['overwrite-delete-stale', 'overwrite', 'append'] as const) {
  t.test(`registry grpc, ${writeMode}: a delete_record between inserts removes the rows sent before it, not those after`, async (t) => {
    const dir = await tmpDir(t);
    const db = await freshDatabase('delrec');
    const plugin = await serveRawSync(
      t,
      [encodeSchema(THINGS)],
      [
        new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table: encodeSchema(THINGS) }) }),
        insert([1n, 2n, BIG]),
        insert([3n]),
        new v3.Sync.Response({
          delete_record: v3.Sync.MessageDeleteRecord.fromObject({
            table_name: 'things',
            // OR: id = 2 or id = 2^53+1
            where_clause: [{ grouping_type: 1, predicates: [idEquals(2n), idEquals(BIG)] }],
          }),
        }),
        // sent after the delete: kept, even with an id the delete named
        insert([2n, 4n]),
      ],
    );
    await writeFile(
      path.join(dir, 'c.yml'),
      `kind: source\nspec:\n  name: raw\n  registry: grpc\n  path: "${plugin.address}"\n  tables: ["*"]\n  destinations: [pg]\n---\n` +
        `kind: destination\nspec:\n  name: pg\n  path: cloudquery/postgresql\n  write_mode: ${writeMode}\n  spec: { connection_string: "${db}" }\n`,
    );
    const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);
    const ids = await query<{ id: string }>(db, 'select id::text as id from things order by id');
    t.same(
      ids.map((x) => x.id),
      ['1', '2', '3', '4'],
      'ids 2 and 2^53+1 of the first inserts deleted; the later id 2 kept',
    );
  });
}

t.test('cloudquery/test delete_records into Postgres: the named resource_ids are gone from test_some_table, children kept', async (t) => {
  const dir = await tmpDir(t);
  const db = await freshDatabase('delrec');
  await writeFile(
    path.join(dir, 'c.yml'),
    'kind: source\nspec:\n  name: test\n  path: cloudquery/test\n  registry: cloudquery\n  version: v4.0.0\n  tables: ["*"]\n  destinations: [pg]\n' +
      '  spec: { num_clients: 1, num_rows: 3, num_sub_rows: 2, delete_records: [1, 3] }\n---\n' +
      `kind: destination\nspec:\n  name: pg\n  path: cloudquery/postgresql\n  version: v8.0.0\n  spec: { connection_string: "${db}" }\n`,
  );
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const [before] = await query<{ n: string }>(db, 'select count(*)::text as n from test_sub_table');
  const ids = await query<{ id: string; n: string }>(
    db,
    'select resource_id::text as id, count(*)::text as n from test_some_table group by resource_id order by resource_id',
  );
  t.same(ids, [{ id: '2', n: '1' }], 'of resource_ids 1–3, only 2 stays');
  t.equal(before?.n, String(3 * 2), `children are not deleted: the test source sends no relations (${JSON.stringify(before)})`);
});
