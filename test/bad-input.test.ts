/**
 * Bad input through the CLI: each class gets its exit code, a message naming what and where, no
 * stack trace, no leaked secret, and nothing already committed is lost.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';
import { freePort } from './helpers/pg-server.js';
import { freshDatabase, query } from './helpers/postgres.js';

const cli = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => cliSync(args, { cwd, env });
const noStack = (tt: { notMatch(a: string, b: RegExp, m: string): void }, s: string) => tt.notMatch(s, /\n\s+at [\w<]|stack=/, 'no stack trace');

const fileToPg = (files: string, cols: string, url: string) => `kind: source
spec:
  name: shop
  path: file
  destinations: [pg]
  spec:
    tables:
      - { name: items, files: "${files}", primary_key: [id], columns: [${cols}] }
---
kind: destination
spec: { name: pg, path: postgresql, spec: { connection_string: "${url}" } }
`;

t.test('invalid UTF-8 and invalid timestamps fail the table with file:line; committed rows stay', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const good = Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i, at: '2024-01-01T00:00:00Z' })).join('\n') + '\n';
  await writeFile(path.join(dir, 'items.ndjson'), good);
  await writeFile(path.join(dir, 'c.yml'), fileToPg('./items.ndjson', '{ name: id, type: int64 }, { name: at, type: timestamp }', url));
  t.equal(cli(['sync', 'c.yml', '--no-progress'], dir).status, 0);
  // now the same file with a broken byte on line 3 (and the rows before it changed)
  await writeFile(
    path.join(dir, 'items.ndjson'),
    Buffer.concat([
      Buffer.from('{"id": 1, "at": "2024-01-01T00:00:00Z"}\n{"id": 2, "at": "2024-01-01T00:00:00Z"}\n{"id": 3, "n": "'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]),
  );
  const r = cli(['sync', 'c.yml', '--no-progress'], dir);
  t.equal(r.status, 1);
  t.match(r.stderr, /invalid UTF-8/);
  t.match(r.stderr, /items\.ndjson:3/);
  noStack(t, r.stderr);
  const [n] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM items');
  t.equal(n!.n, '100', 'no delete-stale after a failed sync: every committed row stays');
  await writeFile(path.join(dir, 'items.ndjson'), '{"id": 1, "at": "2024-01-01T00:00:00Z"}\n{"id": 2, "at": "2024-13-45T99:00:00Z"}\n');
  const ts = cli(['sync', 'c.yml', '--no-progress'], dir);
  t.equal(ts.status, 1);
  t.match(ts.stderr, /items\.ndjson:2/);
  t.match(ts.stderr, /column "at": "2024-13-45T99:00:00Z" is not an ISO-8601 timestamp/);
  noStack(t, ts.stderr);
});

t.test('an unreachable Postgres: exit 1 with what and where, no stack', async (t) => {
  const dir = await tmpDir(t);
  const port = await freePort();
  await writeFile(path.join(dir, 'items.ndjson'), '{"id": 1}\n');
  await writeFile(path.join(dir, 'c.yml'), fileToPg('./items.ndjson', '{ name: id, type: int64 }', `postgres://u:p@127.0.0.1:${port}/db`));
  const r = cli(['sync', 'c.yml', '--no-progress'], dir);
  t.equal(r.status, 1);
  t.match(r.stderr, /CQ_ERR_DEST_WRITE: cannot connect to Postgres/);
  t.match(r.stderr, /ECONNREFUSED|connect/);
  noStack(t, r.stderr);
  const debug = cli(['sync', 'c.yml', '--no-progress', '--log-level', 'debug'], dir);
  t.match(debug.stderr, /stack=".*\\n +at /, 'the stack is there with --log-level debug');
});

t.test('a wrong password: exit 1, the password never printed', async (t) => {
  const dir = await tmpDir(t);
  const url = new URL(await freshDatabase());
  url.password = 'Wr0ng-s3cret-pw';
  await writeFile(path.join(dir, 'items.ndjson'), '{"id": 1}\n');
  await writeFile(path.join(dir, 'c.yml'), fileToPg('./items.ndjson', '{ name: id, type: int64 }', '${PG_URL}'));
  for (const level of ['info', 'debug']) {
    const r = cli(['sync', 'c.yml', '--no-progress', '--log-level', level], dir, { PG_URL: url.toString() });
    t.equal(r.status, 1);
    t.match(r.stderr, /password authentication failed/);
    t.notMatch(r.stderr + r.stdout, 'Wr0ng-s3cret-pw', `secret not in the output at ${level}`);
  }
});
