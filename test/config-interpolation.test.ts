/** `${…}` in config text, as CloudQuery expands it (docs/config.md, interpolation), and @@plugins for every state-holding destination. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ConfigProblems } from '../lib/config/index.js';
import { expandConfigTime, formatGoLayout } from '../lib/config/config-time.js';
import { loadConfig } from '../index.js';
import { tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';
import { exitCodeOf } from '../bin/exit-codes.js';

const DEST = `kind: destination
spec:
  name: mem
  path: memory
`;

async function load(t: Test, text: string, env: NodeJS.ProcessEnv = {}, extra: { cwd?: string; now?: Date } = {}) {
  const dir = await tmpDir(t);
  const p = path.join(dir, 'cfg.yml');
  await writeFile(p, text);
  return { dir, p, load: () => loadConfig([p], { requireDestinations: true, env, cwd: extra.cwd ?? dir, now: extra.now }) };
}

async function problems(t: Test, text: string, env: NodeJS.ProcessEnv = {}) {
  const { load: l } = await load(t, text, env);
  try {
    await l();
  } catch (err) {
    t.ok(err instanceof ConfigProblems);
    t.equal(exitCodeOf(err as ConfigProblems), 2, 'exit 2');
    return (err as ConfigProblems).problems;
  }
  t.fail('loaded');
  return [];
}

t.test('${VAR} is text before parsing: an integer stays an integer, a flow list gets its items', async (t) => {
  const { load: l } = await load(
    t,
    `kind: source
spec:
  name: demo
  path: test
  destinations: [\${D},other]
  spec:
    num_rows: \${N}
---
${DEST}---
kind: destination
spec: { name: other, path: memory }
`,
    { N: '7', D: 'mem' },
  );
  const c = await l();
  t.equal(c.sources[0]!.spec.num_rows, 7, 'num_rows is the integer 7');
  t.same(c.sources[0]!.destinations, ['mem', 'other']);
});

t.test('an unset variable is exit 2 naming it, the file:line and the key path; one in a comment is ignored', async (t) => {
  const ps = await problems(
    t,
    `# \${IN_A_COMMENT} is not expanded
kind: source
spec:
  name: demo
  path: test
  destinations: [mem]
  spec:
    num_rows: \${NOT_SET_N}  # nor \${THIS}
---
${DEST}`,
  );
  t.equal(ps.length, 1, 'one problem: the comments are skipped');
  t.equal(ps[0]!.line, 8);
  t.equal(ps[0]!.document, 1);
  t.equal(ps[0]!.keyPath, 'spec.spec.num_rows');
  t.match(ps[0]!.message, 'NOT_SET_N is not set');
});

t.test('lines of later problems are those of the file as written, after a multi-line substitution', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'tables.yml'), 'num_rows: 3\n    num_tables: 1\n');
  const p = path.join(dir, 'cfg.yml');
  await writeFile(
    p,
    `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [mem]\n  spec:\n    \${file:tables.yml}\n    bogus_key: 1\n---\n${DEST}`,
  );
  try {
    await loadConfig([p], { requireDestinations: true, env: {}, cwd: dir });
    t.fail('loaded');
  } catch (err) {
    const ps = (err as ConfigProblems).problems;
    t.equal(ps.length, 1);
    t.equal(ps[0]!.line, 8, 'bogus_key is on line 8 of cfg.yml');
    t.match(ps[0]!.message, 'bogus_key');
  }
});

t.test('${file:} is relative to the working directory; multi-line JSON and PEM are escaped into a quoted string', async (t) => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAq\n-----END PRIVATE KEY-----\n';
  const json = '{\n  "type": "service_account",\n  "quote": "a \\"b\\""\n}\n';
  const { dir, load: l } = await load(
    t,
    `kind: source
spec:
  name: demo
  path: test
  destinations: [mem]
  spec: { num_rows: \${file:./sub/rows.txt} }
---
kind: destination
spec:
  name: mem
  path: ./d.mjs
  spec:
    private_key: "\${file:./sub/key.pem}"
    credentials: "\${file:./sub/creds.json}"
`,
  );
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.join(dir, 'sub'));
  await writeFile(path.join(dir, 'sub', 'rows.txt'), '5\n');
  await writeFile(path.join(dir, 'sub', 'key.pem'), pem);
  await writeFile(path.join(dir, 'sub', 'creds.json'), json);
  await writeFile(
    path.join(dir, 'd.mjs'),
    "export default { kind: 'destination', name: 'x', configSchema: { type: 'object' }, capabilities: { writeModes: ['append'], " +
      "batch: { rows: 1, bytes: 1, timeoutMs: 1 } }, create() { throw new Error('unused'); } };",
  );
  const c = await l();
  t.equal(c.sources[0]!.spec.num_rows, 5, 'a one-line file is inserted as is (its final line break dropped)');
  t.equal(c.destinations[0]!.spec.private_key, pem.replace(/\n$/, ''), 'the PEM keeps its line breaks');
  t.same(JSON.parse(c.destinations[0]!.spec.credentials as string), { type: 'service_account', quote: 'a "b"' });
  t.ok(c.secrets.includes(pem.replace(/\n$/, '')), 'file contents are secrets');
});

t.test('a missing ${file:} is exit 2 with file:line and the path it tried', async (t) => {
  const ps = await problems(
    t,
    `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [mem]\n  spec:\n    num_rows: \${file:./nope.txt}\n---\n${DEST}`,
  );
  t.equal(ps[0]!.line, 7);
  t.match(ps[0]!.message, /\$\{file:\.\/nope\.txt\}: cannot read .*nope\.txt: ENOENT/);
  t.match(ps[0]!.hint, 'working directory');
});

t.test('${time:} takes absolute and relative times and a Go layout', async (t) => {
  const now = new Date('2024-03-15T10:20:30.000Z');
  t.same(expandConfigTime('2024-01-02T03:04:05Z', now), { text: '2024-01-02T03:04:05Z' });
  t.same(expandConfigTime('2024-01-02T03:04:05+02:00|2006-01-02 15:04', now), { text: '2024-01-02 03:04' });
  t.same(expandConfigTime('2024-01-02', now), { text: '2024-01-02T00:00:00Z' });
  t.same(expandConfigTime('2024-01-02T03:04:05.25Z|Jan _2 2006 3:04:05.000 PM', now), { text: 'Jan  2 2024 3:04:05.250 AM' });
  const day = (expr: string) => (expandConfigTime(`${expr}|2006-01-02`, now) as { text: string }).text;
  const ms = (expr: string) => Date.parse((expandConfigTime(expr, now) as { text: string }).text);
  t.equal(ms('now'), now.getTime());
  t.equal(ms('-24h'), now.getTime() - 86_400_000, 'a Go duration');
  t.equal(ms('1h30m'), now.getTime() + 5_400_000, 'an unsigned duration is in the future');
  t.equal(ms('2 hours 30 minutes ago'), now.getTime() - 9_000_000);
  t.equal(ms('90 seconds from now'), now.getTime() + 90_000);
  t.equal(
    day('3 days ago'),
    formatGoLayout({ ms: now.getTime() - 3 * 86_400_000, offsetMin: -new Date(now.getTime() - 3 * 86_400_000).getTimezoneOffset(), zone: '' }, '2006-01-02'),
  );
  t.equal(day('1 year 2 months from now').slice(0, 7), '2025-05');
  t.match(expandConfigTime('yesterday', now), { error: /invalid duration "yesterday"/ });
  t.match(expandConfigTime('12:00', now), { error: /invalid time format/ });
  t.match(expandConfigTime('3 d ago', now), { error: /invalid unit "d"/ });

  const { load: l } = await load(
    t,
    `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [mem]\n  spec: { num_rows: \${time:2024-01-02T03:04:05Z|2006} }\n---\n${DEST}`,
  );
  t.equal((await l()).sources[0]!.spec.num_rows, 2024, 'a formatted time is YAML text like any other');
  const ps = await problems(t, `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [mem]\n  spec:\n    x: \${time:last tuesday}\n---\n${DEST}`);
  t.equal(ps[0]!.line, 7);
  t.match(ps[0]!.message, 'invalid time format');
});

t.test('values of secret keys and secret-looking variables are redacted; CLI exit 2 names file:line', async (t) => {
  const { p, load: l } = await load(
    t,
    `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [mem]\n  spec: { num_rows: \${ROWS} }\n---\n${DEST}` +
      '  spec:\n    batch_size: 10 # ${API_TOKEN}\n',
    { ROWS: '2', API_TOKEN: 'tok-123456' },
  );
  const c = await l();
  t.notOk(c.secrets.includes('2'));
  await writeFile(p, `kind: source\nspec:\n  name: demo\n  path: test\n  destinations: [mem]\n  spec: { num_rows: \${ROWS_UNSET} }\n---\n${DEST}`);
  const r = cliSync(['validate-config', p]);
  t.equal(r.status, 2);
  t.match(r.stderr, `${p}:6`);
  t.match(r.stderr, 'ROWS_UNSET is not set');
});

t.test('@@plugins.<name>.connection of an s3 and a file destination is their state URL', async (t) => {
  const { dir, load: l } = await load(
    t,
    `kind: source
spec:
  name: a
  path: test
  destinations: [lake]
  backend_options: { table_name: cq_state_a, connection: "@@plugins.lake.connection" }
---
kind: source
spec:
  name: b
  path: test
  destinations: [files]
  backend_options: { table_name: cq_state_b, connection: "@@plugins.files.connection" }
---
kind: destination
spec:
  name: lake
  path: s3
  spec: { bucket: my-lake, region: eu-west-1, endpoint: "http://127.0.0.1:9000", use_path_style: true, path: "raw/x/{{TABLE}}/{{UUID}}.{{FORMAT}}" }
---
kind: destination
spec:
  name: files
  path: file
  spec: { path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}" }
`,
  );
  const c = await l();
  const s3 = new URL(c.sources[0]!.backend_options!.connection);
  t.equal(s3.protocol, 's3:');
  t.equal(s3.hostname, 'my-lake');
  t.equal(s3.pathname, '/raw/x');
  t.same(Object.fromEntries(s3.searchParams), { region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000', path_style: 'true' });
  t.equal(c.sources[1]!.backend_options!.connection, 'file://./out');
  t.ok(dir);
});

t.test('@@plugins.<name>.connection of a destination that cannot hold state is exit 2 at its key', async (t) => {
  const ps = await problems(
    t,
    'kind: source\nspec:\n  name: a\n  path: test\n  destinations: [mem]\n  backend_options:\n' +
      `    table_name: s\n    connection: "@@plugins.mem.connection"\n---\n${DEST}`,
  );
  t.equal(ps[0]!.line, 8);
  t.equal(ps[0]!.keyPath, 'spec.backend_options.connection');
  t.match(ps[0]!.message, 'cannot hold state');
});
