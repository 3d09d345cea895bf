/**
 * Crash safety (SPEC §4): a sync killed with SIGKILL at random points never leaves the saved
 * cursor ahead of committed rows, and the rerun ends with every source row present exactly once.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { CLI, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

const ROWS = 60_000;
const BASE = Date.UTC(2024, 0, 1);
const KILLS = 8;

t.test(`SIGKILL at ${KILLS} random points: the cursor never passes committed rows; the rerun completes exactly once`, async (t) => {
  const url = await freshDatabase();
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'c.yml');
  await writeFile(cfg, `kind: source
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
`);
  const committed = async (): Promise<number> => {
    const r = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_0').catch(() => [{ n: '0' }]);
    return Number(r[0]!.n);
  };
  /** run a sync and SIGKILL it once `when` says so (polled every 10 ms), independent of machine speed */
  const run = (when?: (elapsedMs: number) => Promise<boolean>) => new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [CLI, 'sync', cfg, '--no-progress'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let done = false;
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code, signal) => { done = true; resolve({ code, signal, stderr }); });
    if (!when) return;
    const t0 = Date.now();
    const poll = async () => {
      if (done) return;
      if (await when(Date.now() - t0)) { p.kill('SIGKILL'); return; }
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
  const [all] = await query<{ n: string; d: string; min: string; max: string }>(url, 'SELECT count(*)::text AS n, count(DISTINCT id)::text AS d, min(id)::text AS min, max(id)::text AS max FROM test_table_0');
  t.same(all, { n: String(ROWS), d: String(ROWS), min: '0', max: String(ROWS - 1) }, 'every source row exactly once');
  const [s] = await query<{ value: string }>(url, "SELECT value FROM cq_state WHERE key = 'test_table_0'");
  t.equal(Math.round((Date.parse(s!.value) - BASE) / 1000), ROWS - 1, 'the cursor ends at the last row');
});
