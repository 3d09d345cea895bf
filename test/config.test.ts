/** Config loading (docs/config.md): defaults, interpolation, references, and every class of config error. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ConfigProblems } from '../lib/config/index.js';
import { loadConfig } from '../index.js';
import { ROOT, tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';
import { exitCodeOf } from '../bin/exit-codes.js';

const SOURCE = `kind: source
spec:
  name: demo
  path: test
  destinations: [mem]
  spec:
    num_rows: 10
`;
const DEST = `kind: destination
spec:
  name: mem
  path: memory
`;

async function write(t: Test, text: string, name = 'cfg.yml'): Promise<string> {
  const dir = await tmpDir(t);
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

/** the problems of a config that must fail to load */
async function problemsOf(t: Test, text: string, env: NodeJS.ProcessEnv = {}) {
  const p = await write(t, text);
  try {
    await loadConfig([p], { requireDestinations: true, env });
  } catch (err) {
    t.ok(err instanceof ConfigProblems, 'a ConfigProblems error');
    t.equal(exitCodeOf(err as ConfigProblems), 2, 'exit code 2');
    t.equal((err as ConfigProblems).code, 'CQ_ERR_CONFIG_INVALID');
    return (err as ConfigProblems).problems;
  }
  t.fail('config loaded but should not have');
  return [];
}

t.test('a valid config loads with defaults filled in and is frozen', async (t) => {
  const p = await write(t, `${SOURCE}---\n${DEST}`);
  const c = await loadConfig([p], { requireDestinations: true, env: {} });
  t.equal(c.sources.length, 1);
  t.equal(c.destinations.length, 1);
  const s = c.sources[0]!;
  t.same(s.tables, ['*']);
  t.same(s.skip_tables, []);
  t.equal(s.deterministic_cq_id, false);
  t.equal(s.spec.num_rows, 10);
  t.equal(s.spec.num_tables, 1, 'connector schema default applied');
  t.equal(s.origin.document, 1);
  const d = c.destinations[0]!;
  t.equal(d.write_mode, 'overwrite-delete-stale', 'default write mode');
  t.equal(d.migrate_mode, 'safe');
  t.equal(d.pk_mode, 'default');
  t.equal(d.origin.document, 2);
  t.ok(Object.isFrozen(c) && Object.isFrozen(s.spec), 'deep frozen');
});

t.test('the file destination defaults to append, its only write mode', async (t) => {
  const p = await write(t, `${SOURCE.replace('[mem]', '[out]')}---\nkind: destination\nspec:\n  name: out\n  path: file\n`);
  const c = await loadConfig([p], { requireDestinations: true, env: {} });
  t.equal(c.destinations[0]!.write_mode, 'append');
});

t.test('directories and multi-document files load together', async (t) => {
  const dir = await tmpDir(t);
  await mkdir(path.join(dir, 'conf'));
  await writeFile(path.join(dir, 'conf', 'a.yml'), SOURCE);
  await writeFile(path.join(dir, 'conf', 'b.yaml'), `${DEST}---\n`);
  await writeFile(path.join(dir, 'conf', 'notes.txt'), 'not yaml: [');
  const c = await loadConfig([path.join(dir, 'conf')], { requireDestinations: true, env: {} });
  t.equal(c.sources.length + c.destinations.length, 2);
});

t.test('a typo in a key names file, line, document and key path, and suggests the key', async (t) => {
  const problems = await problemsOf(t, `${SOURCE}---\n${DEST}  write_mod: append\n`);
  t.equal(problems.length, 1);
  t.equal(problems[0]!.keyPath, 'spec.write_mod');
  t.equal(problems[0]!.document, 2);
  t.equal(problems[0]!.line, 13);
  t.match(problems[0]!.message, 'did you mean "write_mode"');
});

t.test('a typo inside a connector spec is checked against the connector schema', async (t) => {
  const problems = await problemsOf(t, `${SOURCE.replace('num_rows', 'num_row')}---\n${DEST}`);
  t.equal(problems.length, 1);
  t.equal(problems[0]!.keyPath, 'spec.spec.num_row');
  t.equal(problems[0]!.line, 7);
  t.match(problems[0]!.message, 'did you mean "num_rows"');
});

t.test('a bad enum value suggests the closest value', async (t) => {
  const problems = await problemsOf(t, `${SOURCE}---\n${DEST}  write_mode: overwrit\n`);
  t.equal(problems[0]!.keyPath, 'spec.write_mode');
  t.match(problems[0]!.message, 'did you mean "overwrite"');
});

t.test('wrong types, missing keys and unknown kinds are each reported, all at once', async (t) => {
  const problems = await problemsOf(
    t,
    `kind: source
spec:
  path: test
  tables: items
  destinations: [mem]
---
${DEST}---
kind: sorce
spec: {}
`,
  );
  const byKey = Object.fromEntries(problems.map((p) => [p.keyPath ?? '', p.message]));
  t.match(byKey.spec, 'missing required key "name"');
  t.match(byKey['spec.tables'], 'must be array');
  t.match(byKey.kind, 'did you mean "source"');
  t.equal(problems.length, 3);
});

t.test('the file destination rejects other write modes at load', async (t) => {
  const problems = await problemsOf(
    t,
    `${SOURCE.replace('[mem]', '[out]')}---\nkind: destination\nspec:\n  name: out\n  path: file\n  write_mode: overwrite\n`,
  );
  t.equal(problems.length, 1);
  t.equal(problems[0]!.keyPath, 'spec.write_mode');
  t.match(problems[0]!.hint, 'append');
});

t.test('an unknown connector suggests the nearest built-in', async (t) => {
  const problems = await problemsOf(t, `${SOURCE.replace('path: test', 'path: tset')}---\n${DEST}`);
  t.equal(problems[0]!.keyPath, 'spec.path');
  t.match(problems[0]!.message, 'did you mean "test"');
});

t.test('an undefined destination is named with a suggestion', async (t) => {
  const problems = await problemsOf(t, `${SOURCE.replace('[mem]', '[mme]')}---\n${DEST}`);
  t.equal(problems[0]!.keyPath, 'spec.destinations[0]');
  t.match(problems[0]!.message, 'did you mean "mem"');
});

t.test('duplicate names are an error', async (t) => {
  const problems = await problemsOf(t, `${SOURCE}---\n${DEST}---\n${DEST}`);
  t.equal(problems.length, 1);
  t.equal(problems[0]!.document, 3);
  t.match(problems[0]!.message, 'already used');
});

t.test('YAML syntax errors name the line', async (t) => {
  const problems = await problemsOf(t, `${SOURCE}---\nkind: destination\nspec:\n  name: [mem\n  path: memory\n`);
  t.ok(problems.length >= 1);
  t.match(problems[0]!.message, 'YAML syntax error');
  t.ok(problems[0]!.line! >= 11, `line ${problems[0]!.line}`);
});

t.test('${ENV} and ${file:} interpolate; values in secret keys are collected for redaction', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'rows.txt'), '7\n');
  const p = path.join(dir, 'cfg.yml');
  await writeFile(
    p,
    `${SOURCE.replace('num_rows: 10', 'num_rows: 10\n    seed: 3')}---
kind: destination
spec:
  name: mem
  path: ./conn-dest.mjs
  spec:
    connection_string: "postgres://u:\${PW}@h/db"
    token: \${file:./rows.txt}
`,
  );
  await writeFile(
    path.join(dir, 'conn-dest.mjs'),
    `export default { kind: 'destination', name: 'x', configSchema: { type: 'object' }, capabilities: { writeModes: ['append'], batch: { rows: 1, ` +
      `bytes: 1, timeoutMs: 1 } }, create() { throw new Error('unused'); } };`,
  );
  const c = await loadConfig([p], { requireDestinations: true, env: { PW: 's3cr3t-pw' }, cwd: dir });
  t.equal(c.destinations[0]!.spec.connection_string, 'postgres://u:s3cr3t-pw@h/db');
  t.equal(c.destinations[0]!.spec.token, 7, 'text before parsing: the file holds an integer');
  t.ok(c.secrets.includes('s3cr3t-pw'), 'env value in a secret key is a secret');
});

t.test('an unset environment variable is a config error naming it and the key', async (t) => {
  const problems = await problemsOf(t, `${SOURCE}---\n${DEST}  spec:\n    batch_timeout: \${NOPE_TIMEOUT}\n`);
  t.equal(problems[0]!.keyPath, 'spec.spec.batch_timeout');
  t.match(problems[0]!.message, 'NOPE_TIMEOUT is not set');
});

const connDest =
  `export default { kind: 'destination', name: 'x', configSchema: { type: 'object' }, capabilities: { writeModes: ['append'], batch: { ` +
  `rows: 1, bytes: 1, timeoutMs: 1 } }, create() { throw new Error('unused'); } };`;

t.test("@@plugins.<name>.connection resolves to that destination's connection", async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'd.mjs'), connDest);
  const p = path.join(dir, 'cfg.yml');
  await writeFile(
    p,
    `kind: source
spec:
  name: demo
  path: test
  destinations: [pg]
  backend_options:
    table_name: cq_state
    connection: "@@plugins.pg.connection"
---
kind: destination
spec:
  name: pg
  path: ./d.mjs
  spec:
    connection_string: postgres://localhost/db
`,
  );
  const c = await loadConfig([p], { requireDestinations: true, env: {} });
  t.same(c.sources[0]!.backend_options, { table_name: 'cq_state', connection: 'postgres://localhost/db' });
});

t.test('@@plugins cycles, unknown names and half backend_options are errors', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'd.mjs'), connDest);
  const p = path.join(dir, 'cfg.yml');
  await writeFile(
    p,
    `kind: source
spec:
  name: demo
  path: test
  destinations: [a]
  backend_options:
    table_name: cq_state
    connection: "@@plugins.nope.connection"
---
kind: source
spec:
  name: demo2
  path: test
  destinations: [a]
  backend_options: { table_name: x }
---
kind: destination
spec:
  name: a
  path: ./d.mjs
  spec: { connection_string: "@@plugins.b.connection" }
---
kind: destination
spec:
  name: b
  path: ./d.mjs
  spec: { connection_string: "@@plugins.a.connection" }
`,
  );
  const err = await loadConfig([p], { requireDestinations: true, env: {} }).catch((e: unknown) => e);
  t.ok(err instanceof ConfigProblems);
  const problems = (err as ConfigProblems).problems;
  const msgs = problems.map((x) => `${x.document} ${x.keyPath}: ${x.message}`);
  t.ok(
    msgs.some((m) => m.startsWith('1 spec.backend_options.connection: @@plugins.nope.connection names no destination')),
    msgs.join('\n'),
  );
  t.ok(
    msgs.some((m) => m.startsWith('2 spec.backend_options: missing required key "connection"')),
    msgs.join('\n'),
  );
  t.ok(
    msgs.some((m) => m.includes('cycle: a → b → a')),
    msgs.join('\n'),
  );
  t.ok(
    msgs.some((m) => m.includes('cycle: b → a → b')),
    msgs.join('\n'),
  );
  t.equal(problems.length, 4);
});

t.test('CLI: validate-config exits 2 and names the key with a suggestion; 0 when valid', async (t) => {
  const p = await write(t, `${SOURCE}---\n${DEST}  write_mod: append\n`);
  const bad = cliSync(['validate-config', p]);
  t.equal(bad.status, 2);
  t.match(bad.stderr, 'spec.write_mod');
  t.match(bad.stderr, 'did you mean "write_mode"');
  t.match(bad.stderr, `${p}:13`);
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace');
  const good = cliSync(['validate-config', path.join(ROOT, 'examples/quickstart.yml')]);
  t.equal(good.status, 0, good.stderr);
});

t.test('CLI: sync with a config error exits 2 before running anything', async (t) => {
  const p = await write(t, `${SOURCE}---\n${DEST}  spec:\n    batch_size: many\n`);
  const r = cliSync(['sync', p]);
  t.equal(r.status, 2);
  t.match(r.stderr, 'spec.spec.batch_size');
  t.match(r.stderr, 'must be integer');
});

t.test('CLI: secrets never reach the log', async (t) => {
  const dir = await tmpDir(t);
  const p = path.join(dir, 'cfg.yml');
  await writeFile(
    p,
    `${SOURCE}---\n${DEST}---\nkind: destination\nspec:\n  name: other\n  path: memory\n  spec:\n    batch_size: \${NOT_SET_X}\n    token: "\${TOKEN_X}"\n`,
  );
  const r = cliSync(['validate-config', '--log-level', 'debug', p], { env: { TOKEN_X: 'hunter2-secret' } });
  t.equal(r.status, 2);
  t.notMatch(r.stderr, 'hunter2-secret');
});
