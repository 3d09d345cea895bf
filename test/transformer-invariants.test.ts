/** Transformations that would break the engine's invariants are config errors (docs/transformers.md, "Invariants"): exit 2, the key path, nothing written. */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';

/** a test source of two tables into a file destination through `transformations` */
function config(transformations: string): string {
  return `kind: source
spec:
  name: src
  path: test
  destinations: [out]
  spec: { num_tables: 2, num_rows: 5 }
---
kind: destination
spec:
  name: out
  path: file
  transformers: [t1]
  spec: { path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: ndjson }
---
kind: transformer
spec:
  name: t1
  path: basic
  spec:
    transformations:
${transformations}
`;
}

async function sync(t: Test, transformations: string) {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'cfg.yml'), config(transformations));
  const r = cliSync(['sync', 'cfg.yml'], { cwd: dir });
  const written = await readdir(path.join(dir, 'out')).catch(() => []);
  return { ...r, written };
}

t.test('remove_columns of a _cq_* column is exit 2 at load, naming the key path; nothing written', async (t) => {
  const r = await sync(t, '      - { kind: remove_columns, tables: ["*"], columns: [title, _cq_sync_time] }');
  t.equal(r.status, 2);
  t.match(r.stderr, 'spec.spec.transformations[0].columns[1]');
  t.match(r.stderr, 'cannot change the reserved column _cq_sync_time');
  t.same(r.written, [], 'no file written');
});

t.test('rename_column from or to a _cq_* name, and obfuscating or re-casing one, are exit 2', async (t) => {
  const cases: [string, string][] = [
    ['      - { kind: rename_column, name: _cq_id, value: id2 }', 'transformations[0].name'],
    ['      - { kind: rename_column, name: title, value: _cq_title }', 'transformations[0].value'],
    ['      - { kind: obfuscate_columns, columns: [_cq_source_name] }', 'transformations[0].columns[0]'],
    ['      - { kind: uppercase, columns: [_cq_source_name] }', 'transformations[0].columns[0]'],
  ];
  for (const [tr, key] of cases) {
    const r = await sync(t, tr);
    t.equal(r.status, 2, tr);
    t.match(r.stderr, key, tr);
    t.same(r.written, [], 'no file written');
  }
});

t.test('change_table_names of two listed tables to one constant name is exit 2 at load', async (t) => {
  const r = await sync(t, '      - { kind: change_table_names, tables: [test_table_0, test_table_1], new_table_name_template: merged }');
  t.equal(r.status, 2);
  t.match(r.stderr, 'spec.spec.transformations[0].new_table_name_template');
  t.match(r.stderr, 'would merge tables "test_table_0" and "test_table_1"');
  t.same(r.written, []);
});

t.test('change_table_names merging two tables found at run time is exit 2 before any row, naming both', async (t) => {
  const r = await sync(t, '      - { kind: change_table_names, tables: ["test_*"], new_table_name_template: merged }');
  t.equal(r.status, 2, r.stderr);
  t.match(r.stderr, 'maps tables test_table_0 and test_table_1 to one table merged');
  t.match(r.stderr, 'transformations[0].new_table_name_template');
  t.same(r.written, [], 'no file written');

  const renamedOntoOther = await sync(t, '      - { kind: change_table_names, tables: [test_table_0], new_table_name_template: test_table_1 }');
  t.equal(renamedOntoOther.status, 2, 'a rename onto a table that passes unchanged merges too');
  t.match(renamedOntoOther.stderr, 'maps tables test_table_0 and test_table_1 to one table test_table_1');
  t.same(renamedOntoOther.written, []);
});

t.test('a {{.OldName}} template over many tables and _cq_* columns in drop_rows / add_primary_keys stay valid', async (t) => {
  const r = await sync(
    t,
    [
      '      - { kind: change_table_names, tables: ["*"], new_table_name_template: "cq_{{.OldName}}" }',
      '      - { kind: add_primary_keys, columns: [_cq_source_name] }',
    ].join('\n'),
  );
  t.equal(r.status, 0, r.stderr);
  t.same(r.written.sort(), ['cq_test_table_0', 'cq_test_table_1']);
});
