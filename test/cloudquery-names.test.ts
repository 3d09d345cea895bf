/**
 * CloudQuery's plugin coordinates in config (docs/plugins.md): `path: cloudquery/<name>` with a
 * `registry` and a `version` runs the built-in connector; bad registries and versions are exit 2
 * naming the key; plugins cq-pipe cannot provide are exit 2 naming the plugin and its version,
 * never "unknown connector"; `spec:` with nothing under it is an empty spec.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';

const source = (over = '') => `kind: source
spec:
  name: demo
  path: cloudquery/test
  registry: cloudquery
  version: v4.2.0
  destinations: [out]
  tables: ["test_table_*"]
${over}  spec: { num_tables: 2, num_rows: 30 }
`;

const fileDestination = (dir: string) => `kind: destination
spec:
  name: out
  path: cloudquery/file
  registry: cloudquery
  version: "v5.0.1"
  write_mode: append
  spec: { path: "${dir}/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: ndjson }
`;

t.test('path: cloudquery/<name> with registry and version runs the built-in connectors', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), `${source()}---\n${fileDestination(path.join(dir, 'out'))}`);
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 60, Errors: 0/);
  t.same((await readdir(path.join(dir, 'out'))).sort(), ['test_table_0', 'test_table_1']);
});

t.test("cloudquery/test as a destination is CloudQuery's test destination: it takes everything and keeps nothing", async (t) => {
  const dir = await tmpDir(t);
  const dest = 'kind: destination\nspec:\n  name: out\n  path: cloudquery/test\n  registry: cloudquery\n  version: v2.3.0\n  spec:\n';
  await writeFile(path.join(dir, 'c.yml'), `${source()}---\n${dest}`);
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 60, Errors: 0/);
  t.same(await readdir(dir), ['c.yml'], 'nothing written anywhere');
});

t.test('a registry or version CloudQuery would not accept is a config error naming the key', async (t) => {
  const dir = await tmpDir(t);
  const cases: [string, RegExp][] = [
    ['  registry: hub\n', /spec\.registry: "hub" is not one of cloudquery, github, local, grpc, docker/],
    ['  version: 1.2.3\n', /spec\.version: "1\.2\.3" is not a CloudQuery version: use v and the version/],
    ['  version: latest\n', /spec\.version: "latest" is not a CloudQuery version/],
  ];
  for (const [line, message] of cases) {
    const body = `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [out]\n${line}  spec: {}\n---\n${fileDestination(dir)}`;
    await writeFile(path.join(dir, 'c.yml'), body);
    const r = await cli(['validate-config', 'c.yml'], { cwd: dir });
    t.equal(r.code, 2, line.trim());
    t.match(r.stderr, /CQ_ERR_CONFIG_INVALID/);
    t.match(r.stderr, message);
  }
});

t.test('a CloudQuery plugin cq-pipe cannot provide: exit 2 naming the plugin, its version and the ways, never "unknown connector"', async (t) => {
  const dir = await tmpDir(t);
  const cases: [string, RegExp][] = [
    [
      '  path: cloudquery/aws\n  registry: cloudquery\n  version: v27.5.0\n',
      /CloudQuery source plugin "cloudquery\/aws" v27\.5\.0 \(registry cloudquery\) is not available/,
    ],
    ['  path: acme/widgets\n  version: v1.0.0\n', /CloudQuery source plugin "acme\/widgets" v1\.0\.0 \(registry cloudquery\) is not available/],
    ['  path: cloudquery/test\n  registry: docker\n', /\(registry docker\) is not available/],
  ];
  for (const [lines, message] of cases) {
    await writeFile(path.join(dir, 'c.yml'), `kind: source\nspec:\n  name: demo\n${lines}  destinations: [out]\n---\n${fileDestination(dir)}`);
    for (const cmd of ['validate-config', 'sync']) {
      // no docker on PATH, and no Hub credentials, whatever this machine has
      const env = { PATH: '', CLOUDQUERY_API_KEY: '' };
      const r = await cli(cmd === 'sync' ? [cmd, 'c.yml', '--no-progress'] : [cmd, 'c.yml'], { cwd: dir, env });
      t.equal(r.code, 2, `${cmd}: ${lines.trim().split('\n')[0]}`);
      t.match(r.stderr, /CQ_ERR_CONFIG_INVALID: c\.yml:\d+ \(document 1\): spec\.path: /);
      t.match(r.stderr, message);
      t.match(r.stderr, /docs\/plugins\.md/);
      t.notMatch(r.stderr, /unknown (source )?connector/);
    }
  }
});

t.test('a CloudQuery destination plugin over grpc or a local executable is accepted; a missing executable is a config error naming it', async (t) => {
  const dir = await tmpDir(t);
  for (const lines of ['  path: localhost:7777\n  registry: grpc\n']) {
    await writeFile(path.join(dir, 'c.yml'), `${source()}---\nkind: destination\nspec:\n  name: out\n${lines}`);
    const r = await cli(['validate-config', 'c.yml'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);
  }
  await writeFile(
    path.join(dir, 'c.yml'),
    `${source()}---\nkind: destination\nspec:\n  name: out\n  path: ./bin/my-plugin\n  registry: local\n  version: v1.0.0\n`,
  );
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 2, 'a path that is no executable is a config error');
  t.match(r.stderr, /destination plugin executable .*bin\/my-plugin \(registry local\) does not exist/);
});

t.test('registry: local with a JS module path still loads the module', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(
    path.join(dir, 'mod.mjs'),
    `export default { kind: 'destination', name: 'm', configSchema: { type: 'object' },
  capabilities: { writeModes: ['append'], batch: { rows: 100, bytes: 1e9, timeoutMs: 1000 } },
  create() { return { async migrateTables() { return []; }, async writeBatch() {}, async close() {} }; } };\n`,
  );
  const dest = 'kind: destination\nspec:\n  name: out\n  path: ./mod.mjs\n  registry: local\n  write_mode: append\n';
  await writeFile(path.join(dir, 'c.yml'), `${source()}---\n${dest}`);
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
});

t.test('`spec:` with nothing under it is an empty spec (source, destination, transformer)', async (t) => {
  const dir = await tmpDir(t);
  const body = `kind: source
spec:
  name: demo
  path: cloudquery/test
  destinations: [out]
  spec:
---
kind: destination
spec:
  name: out
  path: test
  transformers: [noop]
  spec:
---
kind: transformer
spec:
  name: noop
  path: cloudquery/jsonflattener
  spec:
`;
  await writeFile(path.join(dir, 'c.yml'), body);
  const v = await cli(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(v.code, 0, v.stderr);
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
});
