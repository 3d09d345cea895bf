/**
 * The hostile-input corpus (docs/bad-input.md): one fixture per case under test/fixtures/hostile/,
 * run by one table. Each row runs the CLI on a source with a good table and the hostile one and
 * states the exit code, the error code and the text the message must contain; the good table
 * must arrive whole (nothing outside the failed table changed), and no case may print a stack
 * trace or CQ_ERR_INTERNAL.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ROOT, tmpDir } from './helpers/index.js';
import { CLI_SHELL, cliSync, shell } from './helpers/cli.js';

const FIXTURES = path.join(ROOT, 'test/fixtures/hostile');

interface Case {
  /** the fixture file (test/fixtures/hostile/), copied to data/ in the run's directory */
  fixture: string;
  /** the hostile table's entry in the source spec (YAML flow); default: its files are the fixture */
  bad?: string;
  /** builds what a fixture cannot hold (FIFOs, symlinks, directories) in the run's directory */
  setup?: (dir: string) => Promise<void>;
  /** `sync` (default), `write` (the fixture on stdin), or `sync` with stderr closed after one line */
  run?: 'sync' | 'write' | 'closed-stderr';
  args?: string[];
  /** the source keeps state in ./state (file backend) */
  state?: boolean;
  exit: number;
  code?: string;
  text?: RegExp;
  /** rows of the good table written (3 unless the whole run is refused) */
  good: number;
  /** rows of the hostile table written, when it is expected to load */
  badRows?: number;
}

const CASES: Case[] = [
  {
    fixture: 'corrupt-page.parquet',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /cannot decode row group 0 of 2: the Parquet decoder failed.*corrupt-page\.parquet/,
    good: 3,
  },
  { fixture: 'not-arrow.arrow', exit: 1, code: 'CQ_ERR_SOURCE_DATA', text: /not a readable Arrow IPC file or stream/, good: 3 },
  // damaged Arrow IPC (lib/arrow/ipc-read.ts): each length checked before it is used, never a hang or a full heap
  {
    fixture: 'arrow-2gb-length.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /arrow-2gb-length\.arrows is not a readable Arrow IPC .*at byte 512 \(record batch 1\): the metadata length 2147483640 exceeds the 320 bytes/,
    good: 3,
  },
  {
    fixture: 'arrow-body-beyond-file.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /arrow-body-beyond-file\.arrows .*at byte 512 \(record batch 1\): the body length 1099511627776 exceeds the 72 bytes left/,
    good: 3,
  },
  {
    fixture: 'arrow-unknown-dictionary.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /at byte 296 \(record batch 1\): a dictionary batch for dictionary id 7, which no column of the schema uses/,
    good: 3,
  },
  {
    fixture: 'arrow-missing-dictionary.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /at byte 296 \(record batch 1\): column "tag" uses dictionary id 5, which was never sent before this batch/,
    good: 3,
  },
  {
    fixture: 'arrow-negative-offset.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /at byte 512 \(record batch 1\): the record batch: buffer 1 \(offset -64, 24 bytes\) lies outside the message body/,
    good: 3,
  },
  {
    // apache-arrow looped over the 2^31 claimed field nodes, one object each, until the heap was full
    fixture: 'arrow-node-count-bomb.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /at byte 512 \(record batch 1\): the metadata's field nodes claims 2147483647 entries, more than it can hold/,
    good: 3,
  },
  {
    // a null-typed column takes no bytes: 2^31 rows claimed in an empty body would be a loop without end downstream
    fixture: 'arrow-null-rows-bomb.arrows',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /at byte 120 \(record batch 1\): the batch claims 2147483647 rows in a body of 0 bytes/,
    good: 3,
  },
  {
    fixture: 'arrow-truncated.arrow',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /arrow-truncated\.arrow is not a readable Arrow IPC .*: the file starts as an Arrow IPC file but does not end with its footer/,
    good: 3,
  },
  { fixture: 'empty.ndjson', exit: 1, code: 'CQ_ERR_SOURCE_READ', text: /empty\.ndjson has no rows \(empty, or a header only\)/, good: 3 },
  { fixture: 'header-only.csv', exit: 1, code: 'CQ_ERR_SOURCE_READ', text: /header-only\.csv has no rows/, good: 3 },
  {
    fixture: 'missing-file.ndjson',
    bad: '{ name: bad, files: "./data/nope-*.ndjson" }',
    exit: 1,
    code: 'CQ_ERR_SOURCE_READ',
    text: /no files match "\.\/data\/nope-\*\.ndjson"/,
    good: 3,
  },
  {
    fixture: 'fifo.ndjson',
    bad: '{ name: bad, files: "./data/pipe.ndjson" }',
    setup: async (dir) => {
      spawnSync('mkfifo', [path.join(dir, 'data/pipe.ndjson')]);
    },
    exit: 1,
    code: 'CQ_ERR_SOURCE_READ',
    text: /pipe\.ndjson is a FIFO \(named pipe\), not a regular file/,
    good: 3,
  },
  {
    fixture: 'directory.ndjson',
    bad: '{ name: bad, files: "./data/sub", format: ndjson }',
    setup: (dir) => mkdir(path.join(dir, 'data/sub')).then(() => undefined),
    exit: 1,
    code: 'CQ_ERR_SOURCE_READ',
    text: /data\/sub is a directory, not a regular file/,
    good: 3,
  },
  {
    fixture: 'dev-zero.ndjson',
    bad: '{ name: bad, files: "/dev/zero", format: ndjson }',
    exit: 1,
    code: 'CQ_ERR_SOURCE_READ',
    text: /\/dev\/zero is a character device, not a regular file/,
    good: 3,
  },
  {
    fixture: 'symlink-loop.ndjson',
    bad: '{ name: bad, files: "./data/loop", format: ndjson }',
    setup: (dir) => symlink('loop', path.join(dir, 'data/loop')),
    exit: 1,
    code: 'CQ_ERR_SOURCE_READ',
    text: /data\/loop is a symlink loop/,
    good: 3,
  },
  {
    // latest -> 2024-01 and a link back to the parent: every file still read once
    fixture: 'symlink-dup-dirs.ndjson',
    bad: '{ name: bad, files: "./data/**/*.ndjson" }',
    setup: async (dir) => {
      await mkdir(path.join(dir, 'data/2024-01'));
      await copyFile(path.join(FIXTURES, 'symlink-dup-dirs.ndjson'), path.join(dir, 'data/2024-01/x.ndjson'));
      await symlink('2024-01', path.join(dir, 'data/latest'));
      await symlink('..', path.join(dir, 'data/2024-01/up'));
    },
    exit: 0,
    good: 3,
    badRows: 4,
  },
  { fixture: 'gzip-named-ndjson.ndjson', exit: 1, code: 'CQ_ERR_SOURCE_READ', text: /gzip-named-ndjson\.ndjson looks gzip-compressed/, good: 3 },
  {
    // the schema-inference sample is damaged: only its table fails, named (was CQ_ERR_INTERNAL "incorrect header check")
    fixture: 'damaged-gzip.ndjson.gz',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /damaged-gzip\.ndjson\.gz cannot be gunzipped: incorrect header check \(the file is damaged, or not gzip-compressed\)/,
    good: 3,
  },
  {
    fixture: 'truncated-gzip.ndjson.gz',
    bad: '{ name: bad, files: "./data/truncated-gzip.ndjson.gz", columns: [{ name: id, type: int64 }, { name: name, type: utf8 }] }',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /truncated-gzip\.ndjson\.gz cannot be gunzipped: unexpected end of file \(the file is truncated\)/,
    good: 3,
  },
  { fixture: 'deep-nesting.ndjson', exit: 1, code: 'CQ_ERR_SOURCE_DATA', text: /nested 6001 levels deep.*deep-nesting\.ndjson:2/, good: 3 },
  {
    fixture: 'bad-int64.ndjson',
    bad: '{ name: bad, files: "./data/bad-int64.ndjson", columns: [{ name: id, type: int64 }] }',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /bad-int64\.ndjson:2/,
    good: 3,
  },
  {
    // the state backend's file holds a value that is not text: the source's state cannot be opened
    fixture: 'state-not-string.json',
    bad: '{ name: bad, files: "./good.ndjson", incremental: true }',
    setup: async (dir) => {
      await mkdir(path.join(dir, 'state'));
      await copyFile(path.join(FIXTURES, 'state-not-string.json'), path.join(dir, 'state/st.json'));
    },
    state: true,
    exit: 1,
    code: 'CQ_ERR_STATE',
    text: /the value of "bad" is not a string/,
    good: 0,
  },
  {
    fixture: 'state-cursor-number.json',
    bad: '{ name: bad, files: "./good.ndjson", incremental: { cursor: id } }',
    setup: async (dir) => {
      await mkdir(path.join(dir, 'state'));
      await copyFile(path.join(FIXTURES, 'state-cursor-number.json'), path.join(dir, 'state/st.json'));
    },
    state: true,
    exit: 1,
    code: 'CQ_ERR_STATE',
    text: /the saved state of bad cannot be read back: "cursor" is not a string/,
    good: 3,
  },
  {
    fixture: 'summary-location-dir.ndjson',
    setup: (dir) => mkdir(path.join(dir, 'sums')).then(() => undefined),
    args: ['--summary-location', 'sums'],
    exit: 2,
    code: 'CQ_ERR_USAGE',
    text: /--summary-location sums cannot be written: it is a directory/,
    good: 0,
  },
  { fixture: 'closed-stderr.ndjson', run: 'closed-stderr', exit: 0, good: 3, badRows: 2 },
  { fixture: 'stream-int65.ndjson', run: 'write', exit: 1, code: 'CQ_ERR_SOURCE_DATA', text: /column "id": unknown type "int65".*stdin:1/, good: 0 },
  {
    // a pipe stream whose third segment's record batch claims 2 GB of metadata: refused before any allocation
    fixture: 'stream-arrow-2gb-length.arrows',
    run: 'write',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /not a valid cq-pipe Arrow stream: .*at byte 1368 \(segment 3, record batch 1\): the metadata length 2147483640 exceeds the limit/,
    good: 0,
  },
  {
    fixture: 'stream-empty-table-name.ndjson',
    run: 'write',
    exit: 1,
    code: 'CQ_ERR_SOURCE_DATA',
    text: /migrate-table: "table" must be a non-empty string \(stdin:1\)/,
    good: 0,
  },
];

const config = (c: Case) => `kind: source
spec:
  name: s
  path: file
  destinations: [d]
${c.state ? '  backend_options: { table_name: st, connection: "file://./state" }\n' : ''}  spec:
    tables:
      - { name: good, files: "./good.ndjson" }
      - ${c.bad ?? `{ name: bad, files: "./data/${c.fixture}" }`}
---
kind: destination
spec: { name: d, path: file, spec: { path: "./out/{{TABLE}}/{{UUID}}.ndjson", format: ndjson } }
`;

/** rows written for `table` (one NDJSON line each) */
async function rowsOf(dir: string, table: string): Promise<number> {
  const files = await readdir(path.join(dir, 'out', table)).catch(() => [] as string[]);
  let n = 0;
  for (const f of files) n += (await readFile(path.join(dir, 'out', table, f), 'utf8')).split('\n').filter(Boolean).length;
  return n;
}

for (const c of CASES) {
  t.test(`${c.fixture}: exit ${c.exit}${c.code ? ` ${c.code}` : ''}`, async (t) => {
    const dir = await tmpDir(t);
    await mkdir(path.join(dir, 'data'));
    await copyFile(path.join(FIXTURES, c.fixture), path.join(dir, 'data', c.fixture));
    await writeFile(path.join(dir, 'good.ndjson'), '{"id":1}\n{"id":2}\n{"id":3}\n');
    await writeFile(path.join(dir, 'c.yml'), config(c));
    await c.setup?.(dir);
    const r =
      c.run === 'write'
        ? cliSync(['write', 'c.yml'], { cwd: dir, input: await readFile(path.join(FIXTURES, c.fixture)) })
        : c.run === 'closed-stderr'
          ? shell(`${CLI_SHELL} sync c.yml --log-level debug 2>&1 >/dev/null | head -1`, { cwd: dir })
          : cliSync(['sync', 'c.yml', '--no-progress', ...(c.args ?? [])], { cwd: dir });
    t.equal(r.status, c.exit, 'exit code');
    if (c.code) t.match(r.stderr, c.code, 'error code');
    if (c.text) t.match(r.stderr, c.text, 'message');
    t.notMatch(r.stderr + r.stdout, /CQ_ERR_INTERNAL|uncaught|Unhandled/i, 'no internal error');
    if (c.run !== 'closed-stderr') t.notMatch(r.stderr, /\n\s+at [\w<]|stack=/, 'no stack trace');
    t.equal(await rowsOf(dir, 'good'), c.good, 'the good table');
    if (c.badRows !== undefined) t.equal(await rowsOf(dir, 'bad'), c.badRows, 'the hostile table, each row once');
    else if (c.exit !== 0) t.equal(await rowsOf(dir, 'bad'), 0, 'nothing of the failed table');
  });
}

t.test('yaml-alias-bomb.yml: a config whose aliases expand too far is a config error (exit 2), not an internal one', async (t) => {
  const dir = await tmpDir(t);
  await copyFile(path.join(FIXTURES, 'yaml-alias-bomb.yml'), path.join(dir, 'c.yml'));
  const r = cliSync(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /CQ_ERR_CONFIG_INVALID: c\.yml:1 \(document 1\): YAML aliases expand too far/);
  t.notMatch(r.stderr, /CQ_ERR_INTERNAL|\n\s+at /);
});
