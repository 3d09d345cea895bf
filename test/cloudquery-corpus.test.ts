/**
 * Published CloudQuery configs run unchanged (issue 12; docs/cloudquery.md): the configs of the
 * CloudQuery CLI's own tests (cli/cmd/testdata, cli/internal/specs/v0/testdata) and of its test
 * source plugin, copied verbatim into test/fixtures/cloudquery-configs/ (each file names its source
 * URL). A config that uses only connectors cq-pipe has validates and syncs; one that names a Hub
 * plugin cq-pipe cannot run fails naming that plugin, never "unknown connector". The expected
 * outcomes are CloudQuery's own (its cli/cmd/sync_test.go), except where docs/cloudquery.md lists
 * a deliberate difference (a failed table exits 1; no test_testdata_table).
 */
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { ROOT, tmpDir } from './helpers/index.js';

const CORPUS = path.join(ROOT, 'test/fixtures/cloudquery-configs');

interface Case {
  file: string;
  command?: 'sync' | 'validate-config' | 'tables' | 'test-connection';
  env?: Record<string, string>;
  code: number;
  /** what stderr must say */
  says?: RegExp;
  /** `Resources: N` of a sync */
  resources?: number;
  /** files the config reads with ${file:…}, relative to the working directory */
  files?: Record<string, string>;
}

/** CloudQuery's test source as cq-pipe offers it: 1 row of test_some_table, its 10 children, 1 paid row */
const ONE_SOURCE = 12;
const hub = (plugin: string, version: string) =>
  new RegExp(`CloudQuery source plugin "cloudquery/${plugin}" ${version.replace(/\./g, '\\.')} .*is not available`);

const CASES: Case[] = [
  { file: 'cli-multiple-sources.yml', code: 0, resources: 2 * ONE_SOURCE },
  { file: 'cli-multiple-destinations.yml', code: 0, resources: ONE_SOURCE },
  { file: 'cli-multiple-destinations-multiple-batching-writers.yml', code: 0, resources: ONE_SOURCE },
  { file: 'cli-multiple-sources-destinations.yml', code: 0, resources: 2 * ONE_SOURCE },
  { file: 'cli-sync-success-sourcev1-destv0.yml', code: 0, resources: ONE_SOURCE },
  { file: 'cli-with-remote-progress.yml', code: 0, resources: 1 },
  { file: 'cli-with-sync-group-id.yml', code: 0, resources: ONE_SOURCE },
  // the backend is CloudQuery's test destination: state kept for the sync only (memory://)
  { file: 'cli-different-backend-from-destination.yml', code: 0, resources: ONE_SOURCE },
  {
    file: 'specs-sync_group_id_overwrite_delete_stale.yml',
    command: 'validate-config',
    code: 2,
    says: /sync_group_id is not supported with write_mode: overwrite-delete-stale/,
  },
  { file: 'specs-time_substitution.yml', command: 'validate-config', code: 2, says: hub('aws', 'v1.3.3') },
  { file: 'specs-time_substitution_with_format.yml', command: 'validate-config', code: 2, says: hub('aws', 'v1.3.3') },
  { file: 'cli-transformation.yml', code: 0, resources: ONE_SOURCE },
  { file: 'cli-transformer-succeeds.yml', code: 0, resources: 100 },
  { file: 'cli-source-with-env.yml', env: { TEST_KEY: 'test_value', NOT_TEST_ENV: '' }, code: 0, resources: 1 },
  { file: 'cli-source-with-env.yml', env: { TEST_KEY: 'other' }, code: 2, says: /required_env: environment variable TEST_KEY must be "test_value"/ },
  { file: 'cli-sync-missing-path-error.yml', code: 2, says: /spec: missing required key "path"/ },
  { file: 'cli-source-exits.yml', code: 1, says: /exit_immediately/ },
  { file: 'cli-destination-exits.yml', code: 1, says: /exit_on_write is true/ },
  { file: 'cli-destination-errors.yml', code: 1, says: /error_on_write is true/ },
  { file: 'cli-transformer-exits.yml', code: 1, says: /exit_immediately: the test transformer stops the sync/ },
  { file: 'cli-transformer-errors.yml', code: 1, says: /failing at the transformer stage according to spec requirements/ },
  // CloudQuery exits 0 here and counts the error; cq-pipe fails the sync (docs/cloudquery.md)
  { file: 'cli-source-errors.yml', code: 1, says: /table test_some_table failed: fail_immediately/ },
  { file: 'cli-source-no-destination.yml', command: 'validate-config', code: 2, says: /destinations/ },
  { file: 'cli-validate-config-hub-404.yml', command: 'validate-config', code: 2, says: hub('missing', 'v9.9.9') },
  { file: 'cli-validate-config-hub-bad.yml', command: 'validate-config', code: 2, says: hub('aws', 'v1.0.0') },
  { file: 'cli-validate-config-hub-good.yml', command: 'validate-config', code: 2, says: hub('aws', 'v1.0.0') },
  { file: 'cli-validate-config-platform-source-only.yml', command: 'validate-config', code: 2, says: hub('aws', 'v1.0.0') },
  { file: 'cli-validate-config-error.yml', command: 'validate-config', code: 2, says: hub('cloudflare', 'v12.3.3') },
  { file: 'cli-test-connection-bad-connection.yml', command: 'test-connection', code: 2, says: hub('cloudflare', 'v12.3.3') },
  { file: 'cli-cloudflare-tables-with-spec-filter.yml', command: 'tables', code: 2, says: hub('cloudflare', 'v12.3.3') },
  {
    file: 'specs-env_variables.yml',
    command: 'validate-config',
    env: { VERSION: 'v4.6.1', DESTINATIONS: 'postgresql', CONNECTION_STRING: 'postgres://localhost:5432/db' },
    code: 2,
    says: hub('aws', 'v4.6.1'),
  },
  { file: 'specs-multiple_sources.yml', command: 'validate-config', code: 2, says: hub('aws', 'v4.6.1') },
  { file: 'specs-skip_dependent_tables-false.yml', command: 'validate-config', code: 2, says: hub('gcp', 'v1.0.0') },
  {
    file: 'specs-gcp.yml',
    command: 'validate-config',
    files: { 'testdata/creds.txt': 'not-a-real-credential' },
    code: 2,
    says: /source plugin executable .*\/cloudquery\/gcp \(registry local\) does not exist/,
  },
  { file: 'plugin-test-source-config.yml', command: 'validate-config', code: 2, says: /source plugin executable .*\/test \(registry local\) does not exist/ },
];

t.test('the corpus holds the published configs this test names', async (t) => {
  const files = new Set(await readdir(CORPUS));
  for (const c of CASES) t.ok(files.has(c.file), c.file);
  for (const f of files)
    t.match(await readFile(path.join(CORPUS, f), 'utf8'), /^# source: https:\/\/github\.com\/cloudquery\/cloudquery\/blob\/[0-9a-f]{40}\//);
});

for (const c of CASES) {
  const command = c.command ?? 'sync';
  t.test(`${c.file}: ${command} exits ${c.code}`, async (t) => {
    const dir = await tmpDir(t);
    await copyFile(path.join(CORPUS, c.file), path.join(dir, 'config.yml'));
    for (const [name, body] of Object.entries(c.files ?? {})) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), body);
    }
    const extra = command === 'sync' ? ['--no-progress'] : [];
    // no Hub key and no docker: a Hub plugin can only be found in the (empty) plugin cache
    const env = { CLOUDQUERY_API_KEY: '', PATH: path.dirname(process.execPath), ...c.env };
    const r = await cli([command, 'config.yml', ...extra], { cwd: dir, env });
    t.equal(r.code, c.code, r.stderr);
    if (c.says) t.match(r.stderr, c.says);
    t.notMatch(r.stderr, /unknown (source|destination) connector|CQ_ERR_INTERNAL/);
    if (c.resources !== undefined) t.match(r.stderr, new RegExp(`Resources: ${c.resources},`));
  });
}

t.test("send_sync_summary into CloudQuery's file destination (cli/cmd/testdata/with-destination-summary*.yml): one summary row per sync", async (t) => {
  for (const [file, args, group] of [
    ['cli-with-destination-summary.yml', [], undefined],
    ['cli-with-destination-summary-with-sync-group-id-and-shard.yml', ['--shard', '1/2'], 'sync_group_id_test'],
  ] as const) {
    const dir = await tmpDir(t);
    await copyFile(path.join(CORPUS, file), path.join(dir, 'config.yml'));
    const env = { CQ_FILE_DESTINATION: path.join(dir, 'data/{{TABLE}}/{{UUID}}.{{FORMAT}}') };
    const r = await cli(['sync', 'config.yml', '--no-progress', ...args], { cwd: dir, env });
    t.equal(r.code, 0, r.stderr);
    const summaryDir = path.join(dir, 'data/cloudquery_sync_summaries');
    const files = await readdir(summaryDir);
    t.equal(files.length, 1, file);
    const row = JSON.parse((await readFile(path.join(summaryDir, files[0]!), 'utf8')).trim()) as Record<string, unknown>;
    // CloudQuery's expected row (cli/cmd/sync_test.go), less its test_testdata_table
    // CloudQuery's test reads `_cq_source_name` as its SourceName: the shard suffix is there only
    t.match(row, { _cq_source_name: group ? 'test_1_2' : 'test', source_name: 'test', source_path: 'cloudquery/test', destination_path: 'cloudquery/file' });
    t.equal(row.destination_errors, 0);
    t.equal(row._cq_sync_group_id ?? undefined, group);
    if (group) t.same([row.shard_num, row.shard_total], [1, 2]);
    else t.same(row.source_tables, ['test_paid_table', 'test_some_table', 'test_sub_table']);
  }
});

t.test('a file the CLI reads with ${file:} and env vars in numbers (cli/internal/specs/v0/testdata/numbers.yml)', async (t) => {
  const dir = await tmpDir(t);
  await copyFile(path.join(CORPUS, 'specs-numbers.yml'), path.join(dir, 'config.yml'));
  await writeFile(path.join(dir, 'number.txt'), '1234567890');
  const body = (await readFile(path.join(dir, 'config.yml'), 'utf8')).replace('./testdata/number.txt', './number.txt');
  await writeFile(path.join(dir, 'config.yml'), body);
  const r = await cli(['validate-config', 'config.yml'], { cwd: dir, env: { ACCOUNT_ID: '0987654321', CLOUDQUERY_API_KEY: '' } });
  t.equal(r.code, 2);
  t.match(r.stderr, hub('aws', 'v1'));
});
