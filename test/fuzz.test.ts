/**
 * Property test: random mutations of a valid config and of valid NDJSON / CSV never crash with an
 * unhandled or internal error — a config either loads or fails with a config error (exit 2); data
 * either reads or fails its table with a typed error naming the file.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../index.js';
import { CqPipeError } from '../lib/errors.js';
import { fileSource } from '../connectors/file/source.js';
import { silentLogger } from '../lib/logger.js';
import { tmpDir } from './helpers/index.js';
import { exitCodeOf } from '../bin/exit-codes.js';

/** mulberry32, seeded: failures are reproducible */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  '"',
  "'",
  '\n',
  ' ',
  '-',
  '#',
  '${X}',
  '${file:nope}',
  '@@plugins.x.connection',
  '---',
  '\u0000',
  '\uFFFD',
  '9999999999999999999999',
  'null',
  'true',
  '&a',
  '*a',
  '!!binary',
  '\t',
];

function mutate(text: string, rand: () => number): string {
  let s = text;
  const n = 1 + Math.floor(rand() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = rand();
    if (op < 0.35) s = s.slice(0, at) + PIECES[Math.floor(rand() * PIECES.length)] + s.slice(at);
    else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 6));
    else {
      const len = Math.floor(rand() * 12);
      s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
    }
  }
  return s;
}

const CONFIG = `kind: source
spec:
  name: shop
  path: file
  tables: ["*"]
  destinations: [lake]
  backend_options: { table_name: st, connection: "file://./state" }
  spec:
    tables:
      - name: items
        files: ./items.ndjson
        primary_key: [id]
        columns:
          - { name: id, type: int64 }
          - { name: price, type: "decimal(10,2)" }
---
kind: destination
spec:
  name: lake
  path: file
  write_mode: append
  spec: { path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet }
`;

t.test('mutated configs load or fail with a config error — never anything else', async (t) => {
  const dir = await tmpDir(t);
  const rand = prng(20261125);
  const outcomes = { loaded: 0, configError: 0 };
  for (let i = 0; i < 300; i++) {
    const p = path.join(dir, `c${i}.yml`);
    await writeFile(p, mutate(CONFIG, rand));
    try {
      await loadConfig([p], { requireDestinations: true, env: {} });
      outcomes.loaded++;
    } catch (err) {
      if (!(err instanceof CqPipeError) || exitCodeOf(err) !== 2 || err.code === 'CQ_ERR_INTERNAL') {
        t.fail(`mutation ${i} gave ${(err as Error).stack}`);
        continue;
      }
      outcomes.configError++;
    }
  }
  t.equal(outcomes.loaded + outcomes.configError, 300, JSON.stringify(outcomes));
  t.ok(outcomes.configError > 100, 'most mutations are caught');
});

const NDJSON = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i, price: `${i}.5`, name: `n${i}`, at: '2024-01-01T00:00:00Z' })).join('\n') + '\n';
const CSV = 'id,price,name,at\n' + Array.from({ length: 20 }, (_, i) => `${i},${i}.5,"n,${i}",2024-01-01T00:00:00Z`).join('\n') + '\n';

t.test('mutated NDJSON and CSV read or fail their table with a typed error naming the file', async (t) => {
  const dir = await tmpDir(t);
  const rand = prng(7);
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 200; i++) {
    const nd = path.join(dir, `d${i}.ndjson`);
    const cs = path.join(dir, `d${i}.csv`);
    await writeFile(nd, mutate(NDJSON, rand));
    await writeFile(cs, mutate(CSV, rand));
    const explicit = [
      { name: 'id', type: 'int64' },
      { name: 'price', type: 'decimal(10,2)' },
      { name: 'name', type: 'utf8' },
      { name: 'at', type: 'timestamp' },
    ];
    for (const spec of [
      { tables: [{ name: 'a', files: nd, columns: explicit }] },
      { tables: [{ name: 'b', files: nd }] },
      { tables: [{ name: 'c', files: cs, columns: explicit }] },
      { tables: [{ name: 'd', files: cs }] },
    ]) {
      try {
        const client = await fileSource.create(spec, { name: 'fuzz', logger: silentLogger, baseDir: dir, invocationId: 'f', syncTime: new Date() });
        const tables = await client.tables();
        let tableError = false;
        for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) {
          if (m.kind === 'table-error') {
            tableError = true;
            if (m.error.code === 'CQ_ERR_INTERNAL' || !m.error.context.file)
              t.fail(`mutation ${i} (${spec.tables[0]!.name}): ${m.error.code} ${m.error.message} ${m.error.stack}`);
          }
        }
        if (tableError) failed++;
        else ok++;
      } catch (err) {
        // schema inference can fail before reading: must still be a typed source error
        if (!(err instanceof CqPipeError) || err.code === 'CQ_ERR_INTERNAL') t.fail(`mutation ${i}: ${(err as Error).stack}`);
        else failed++;
      }
    }
  }
  t.equal(ok + failed, 800, `${ok} read, ${failed} failed cleanly`);
});
