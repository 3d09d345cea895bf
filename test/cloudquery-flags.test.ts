/** The CloudQuery CLI's global flags (docs/cloudquery.md): accepted, and each does what its name says. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';

const CONFIG = `kind: source
spec: { name: demo, path: cloudquery/test, registry: cloudquery, version: v4.2.0, destinations: [out], spec: { num_rows: 20 } }
---
kind: destination
spec: { name: out, path: cloudquery/test, registry: cloudquery, version: v2.3.0 }
`;

t.test("a deployment guide's command line runs: every CloudQuery flag is accepted", async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), CONFIG);
  const r = await cli(
    ['sync', 'c.yml', '--no-progress', '--log-console', '--no-log-file', '--log-level', 'trace', '--log-format', 'json', '--telemetry-level', 'none'].concat([
      '--cq-dir',
      path.join(dir, '.cq'),
      '--license',
      path.join(dir, 'license.txt'),
    ]),
    { cwd: dir },
  );
  t.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string });
  t.ok(json.length > 2, 'JSON log lines on stderr');
  t.ok(
    json.some((l) => l.level === 'debug'),
    'trace shows debug lines',
  );
  // CloudQuery's test tables: 20 rows of test_some_table, 10 test_sub_table rows each, 20 of test_paid_table
  t.match(lines.at(-1), /Sync completed successfully\. Resources: 240, Errors: 0/);
});

t.test('--log-file-name appends the log to that file as well as stderr; --no-log-file wins', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), CONFIG);
  const log = path.join(dir, 'cq.log');
  const first = await cli(['sync', 'c.yml', '--no-progress', '--log-file-name', log], { cwd: dir });
  t.equal(first.code, 0, first.stderr);
  const once = await readFile(log, 'utf8');
  t.match(once, /sync started/);
  t.match(first.stderr, /sync started/, 'stderr too');
  const second = await cli(['sync', 'c.yml', '--no-progress', '--log-file-name', log], { cwd: dir });
  t.equal(second.code, 0);
  const twice = await readFile(log, 'utf8');
  t.equal(twice.match(/sync started/g)?.length, 2, 'appended, not replaced');
  const third = await cli(['sync', 'c.yml', '--no-progress', '--log-file-name', log, '--no-log-file'], { cwd: dir });
  t.equal(third.code, 0);
  t.equal(await readFile(log, 'utf8'), twice, '--no-log-file: nothing written to the file');
  const fourth = await cli(['sync', 'c.yml', '--no-progress', '--log-file-name', log, '--log-file-overwrite'], { cwd: dir });
  t.equal(fourth.code, 0, fourth.stderr);
  t.equal((await readFile(log, 'utf8')).match(/sync started/g)?.length, 1, '--log-file-overwrite: replaced');
});

t.test("CloudQuery's deprecated flags still run: --data-dir is --cq-dir, --color is checked and does nothing", async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), CONFIG.replace('path: cloudquery/test, registry: cloudquery, version: v4.2.0', 'path: acme/thing, version: v1.0.0'));
  const r = await cli(['validate-config', 'c.yml', '--data-dir', path.join(dir, 'data'), '--color', 'off'], { cwd: dir });
  t.equal(r.code, 2, 'the Hub plugin is looked for under --data-dir');
  t.match(r.stderr, new RegExp(`${path.join(dir, 'data')}/plugins/source/acme/thing/v1\\.0\\.0/plugin`));
  const color = await cli(['validate-config', 'c.yml', '--color', 'rainbow'], { cwd: dir });
  t.equal(color.code, 2);
  t.match(color.stderr, /--color "rainbow" is not one of on, off, auto/);
});

t.test('bad flag values are usage errors (exit 2) naming the flag', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), CONFIG);
  const telemetry = await cli(['sync', 'c.yml', '--telemetry-level', 'loud'], { cwd: dir });
  t.equal(telemetry.code, 2);
  t.match(telemetry.stderr, /--telemetry-level "loud" is not one of none, errors, stats, all/);
  const file = await cli(['sync', 'c.yml', '--log-file-name', path.join(dir, 'missing-dir', 'x.log')], { cwd: dir });
  t.equal(file.code, 2);
  t.match(file.stderr, /--log-file-name .*x\.log cannot be opened/);
});
