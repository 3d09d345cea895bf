/**
 * Crash safety (docs/semantics.md): a sync killed with SIGKILL at random points never leaves the saved
 * cursor ahead of committed rows, and the rerun ends with every source row present exactly once.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { tmpDir } from './helpers/index.js';
import { cliSpawn } from './helpers/cli.js';
import { freshDatabase, query } from './helpers/postgres.js';

const ROWS = 30_000;
const BASE = Date.UTC(2024, 0, 1);
const KILLS = 8;

t.test(`SIGKILL at ${KILLS} random points: the cursor never passes committed rows; the rerun completes exactly once`, async (t) => {
  const url = await freshDatabase();
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'c.yml');
  await writeFile(
    cfg,
    `kind: source
spec:
  name: crashy
  path: test
  destinations: [pg]
  backend_options: { table_name: cq_state, connection: "@@plugins.pg.connection" }
  spec: { num_rows: ${ROWS}, batch_rows: 500, preset: all-types, incremental: true }
---
kind: destination
spec:
  name: pg
  path: postgresql
  write_mode: overwrite
  spec: { connection_string: "${url}", batch_size: 500 }
`,
  );
  const committed = async (): Promise<number> => {
    const r = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_0').catch(() => [{ n: '0' }]);
    return Number(r[0]!.n);
  };
  /** run a sync and SIGKILL it once `when` says so (polled every 10 ms), independent of machine speed */
  const run = (when?: (elapsedMs: number) => Promise<boolean>) =>
    new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
      const { child: p, done: exited } = cliSpawn(['sync', cfg, '--no-progress']);
      let done = false;
      void exited.then(({ code, signal, stderr }) => {
        done = true;
        resolve({ code, signal, stderr });
      });
      if (!when) return;
      const t0 = Date.now();
      const poll = async () => {
        if (done) return;
        if (await when(Date.now() - t0)) {
          p.kill('SIGKILL');
          return;
        }
        setTimeout(() => void poll(), 10);
      };
      void poll();
    });
  let killed = 0;
  let checked = 0;
  // kill points: two early ones (start-up, migration), the rest once a random number of rows is committed
  const points = [
    { label: 'after 150 ms', when: async (ms: number) => ms >= 150 },
    { label: 'after 400 ms', when: async (ms: number) => ms >= 400 },
    ...Array.from({ length: KILLS - 2 }, (_, i) => {
      const target = Math.floor(((i + Math.random()) / (KILLS - 2)) * ROWS * 0.9);
      return { label: `at ≥${target} committed rows`, when: async () => (await committed()) >= target };
    }),
  ];
  for (const { label, when } of points) {
    const r = await run(when);
    if (r.signal === 'SIGKILL') killed++;
    const state = await query<{ value: string }>(url, "SELECT value FROM cq_state WHERE key = 'test_table_0'").catch(() => []);
    if (!state.length) continue;
    const cursorRow = Math.round((Date.parse(state[0]!.value) - BASE) / 1000);
    const [c] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_0 WHERE id <= $1', [cursorRow]);
    t.equal(Number(c!.n), cursorRow + 1, `after a kill ${label}: cursor at row ${cursorRow}, and every row up to it is committed`);
    checked++;
  }
  t.ok(killed >= 1, `${killed} of ${KILLS} runs were killed mid-sync`);
  t.ok(checked >= 1, `${checked} saved cursors checked`);
  const final = await run();
  t.equal(final.code, 0, final.stderr);
  const [all] = await query<{ n: string; d: string; min: string; max: string }>(
    url,
    'SELECT count(*)::text AS n, count(DISTINCT id)::text AS d, min(id)::text AS min, max(id)::text AS max FROM test_table_0',
  );
  t.same(all, { n: String(ROWS), d: String(ROWS), min: '0', max: String(ROWS - 1) }, 'every source row exactly once');
  const [s] = await query<{ value: string }>(url, "SELECT value FROM cq_state WHERE key = 'test_table_0'");
  t.equal(Math.round((Date.parse(s!.value) - BASE) / 1000), ROWS - 1, 'the cursor ends at the last row');
});

t.test('resumable full reads: a killed read resumes after the last committed key; no delete-stale for the resumed table', async (t) => {
  const src = await freshDatabase();
  const dst = await freshDatabase();
  const dir = await tmpDir(t);
  await query(src, "CREATE TABLE big (id bigint PRIMARY KEY, v text); INSERT INTO big SELECT g, repeat('x', 50) || g FROM generate_series(1, 40000) g");
  const cfg = path.join(dir, 'r.yml');
  await writeFile(
    cfg,
    `kind: source
spec:
  name: resumer
  path: postgresql
  destinations: [pg]
  backend_options: { table_name: st, connection: "file://${dir}/state" }
  spec: { connection_string: "${src}", batch_rows: 1000, tables: [{ name: public.big, resumable: true }] }
---
kind: destination
spec: { name: pg, path: postgresql, write_mode: overwrite-delete-stale, spec: { connection_string: "${dst}", batch_size: 1000 } }
`,
  );
  const sync = (kill: boolean) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const { child: p, done } = cliSpawn(['sync', cfg, '--no-progress', '--summary-location', path.join(dir, 's.jsonl')]);
      void done.then(({ code, stderr }) => resolve({ code, stderr }));
      if (!kill) return;
      const poll = async () => {
        const n = await query<{ n: string }>(dst, 'SELECT count(*)::text AS n FROM big').then(
          (r) => Number(r[0]!.n),
          () => 0,
        );
        if (n >= 10000) p.kill('SIGKILL');
        else setTimeout(() => void poll(), 10);
      };
      void poll();
    });
  const killed = await sync(true);
  t.equal(killed.code, null, 'the first run was killed');
  const [before] = await query<{ n: string }>(dst, 'SELECT count(*)::text AS n FROM big');
  const resumed = await sync(false);
  t.equal(resumed.code, 0, resumed.stderr);
  t.match(resumed.stderr, /resuming the read of public\.big after key/);
  const summary = (await import('node:fs'))
    .readFileSync(path.join(dir, 's.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { resources: number });
  t.ok(
    summary.at(-1)!.resources < 40000 - Number(before!.n) + 1000 + 1,
    `the rerun read ${summary.at(-1)!.resources} rows, not all 40000 (${before!.n} were committed)`,
  );
  const [all] = await query<{ n: string; d: string }>(dst, 'SELECT count(*)::text AS n, count(DISTINCT id)::text AS d FROM big');
  t.same(all, { n: '40000', d: '40000' }, "every row exactly once: the resumed run deleted none of the first run's rows");
  const state = JSON.parse((await import('node:fs')).readFileSync(path.join(dir, 'state', 'st.json'), 'utf8')) as Record<string, unknown>;
  t.notOk('big#resume' in state, 'a finished read forgets its keyset position');
  const full = await sync(false);
  t.equal(full.code, 0);
  t.equal(summary.length + 1, (await import('node:fs')).readFileSync(path.join(dir, 's.jsonl'), 'utf8').trim().split('\n').length);
  t.notMatch(full.stderr, /resuming/, 'the next run reads in full again');
});
