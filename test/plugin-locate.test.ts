/**
 * Hub plugins found and launched as the CloudQuery CLI does (connectors/cloudquery-plugin/locate.ts,
 * hub-download.ts, docker.ts; docs/plugins.md): the plugin cache under `.cq` or `--cq-dir`, a Hub
 * download from a local HTTP server standing in for the Hub API (no internet here), download
 * failures, `registry: docker` without docker and with a fake `docker` command that runs the
 * SDK-built fixture plugin, and the plugin's warn/error log lines counted into the sync summary.
 */
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { goTarget } from '../connectors/cloudquery-plugin/hub-download.js';
import { readZipEntry } from '../connectors/cloudquery-plugin/zip-entry.js';
import { cli } from './helpers/cli.js';
import { ROOT, tmpDir } from './helpers/index.js';
import { freePort } from './helpers/sdk-plugin.js';
import { zipFiles } from './helpers/zip.js';

const PLUGIN_ENTRY = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-source.js');
/** a plugin executable as the CLI expects one (a Go binary in real use): a shell script starting the SDK plugin */
const LAUNCHER = `#!/bin/sh\nexec "${process.execPath}" "${PLUGIN_ENTRY}" "$@"\n`;
const { os: GOOS, arch: GOARCH } = goTarget();

/** A source document for plugin `path` and a file destination writing ndjson under `dir/out`. */
function config(dir: string, source: string, spec = '{ rows: 4 }'): string {
  return (
    `kind: source\nspec:\n  name: sdk\n${source}\n  destinations: [out]\n  spec: ${spec}\n---\n` +
    `kind: destination\nspec:\n  name: out\n  path: cloudquery/file\n  write_mode: append\n` +
    `  spec: { path: "${dir}/out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: ndjson }\n`
  );
}

const HUB_SOURCE = '  path: acme/sdk\n  version: v1.0.0';

async function writeExecutable(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  await chmod(file, 0o755);
}

/** The sync summary lines cq-pipe wrote with --summary-location. */
async function summaries(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** No CloudQuery credentials from the outside, whatever the machine has. */
const NO_KEY = { CLOUDQUERY_API_KEY: '', CLOUDQUERY_API_URL: '' };

t.test('a plugin in the CLI cache (.cq) runs; its warn and error log lines are counted in the summary', async (t) => {
  await chmod(PLUGIN_ENTRY, 0o755);
  const dir = await tmpDir(t);
  await writeExecutable(path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0/plugin'), LAUNCHER);
  await writeFile(path.join(dir, 'c.yml'), config(dir, HUB_SOURCE, '{ rows: 4, log_marker: "a warning", log_error: "an error" }'));
  const r = await cli(['sync', 'c.yml', '--no-progress', '--summary-location', 'summary.json'], { cwd: dir, env: NO_KEY });
  t.equal(r.code, 0, r.stderr);
  const [s] = await summaries(path.join(dir, 'summary.json'));
  t.equal(s!.source_warnings, 1, 'one warn line');
  t.equal(s!.source_errors, 1, 'one error line (no table failed: the error lines are the source errors, as in the CLI)');
  t.equal(s!.resources, 4 + 8 + 2, 'items, item_tags, events');
  const last = r.stderr.trim().split('\n').pop()!;
  t.match(last, /^Sync completed with errors, see logs for details\. Resources: 14, Errors: 1, Warnings: 1,/);
});

t.test('a clean plugin run counts no warnings or errors', async (t) => {
  const dir = await tmpDir(t);
  await writeExecutable(path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0/plugin'), LAUNCHER);
  await writeFile(path.join(dir, 'c.yml'), config(dir, HUB_SOURCE));
  const r = await cli(['sync', 'c.yml', '--no-progress', '--summary-location', 's.json'], { cwd: dir, env: NO_KEY });
  t.equal(r.code, 0, r.stderr);
  const [s] = await summaries(path.join(dir, 's.json'));
  t.same([s!.source_warnings, s!.source_errors], [0, 0]);
  t.match(r.stderr.trim().split('\n').pop(), /^Sync completed successfully\. Resources: 14, Errors: 0, Warnings: 0,/);
});

t.test('--cq-dir names the cache; the default .cq is then not looked at', async (t) => {
  const dir = await tmpDir(t);
  await writeExecutable(path.join(dir, 'cache/plugins/source/acme/sdk/v1.0.0/plugin'), LAUNCHER);
  await writeFile(path.join(dir, 'c.yml'), config(dir, HUB_SOURCE));
  const r = await cli(['sync', 'c.yml', '--no-progress', '--cq-dir', 'cache'], { cwd: dir, env: NO_KEY });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 14,/);
  const without = await cli(['validate-config', 'c.yml'], { cwd: dir, env: NO_KEY });
  t.equal(without.code, 2, 'without --cq-dir the plugin is not in .cq');
  t.match(without.stderr, path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0/plugin'));
});

t.test('not cached and no CLOUDQUERY_API_KEY: exit 2 naming the plugin, version, cache path and the other ways', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(dir, HUB_SOURCE));
  for (const cmd of ['sync', 'validate-config']) {
    const r = await cli([cmd, 'c.yml'], { cwd: dir, env: NO_KEY });
    t.equal(r.code, 2, `${cmd} exits 2`);
    t.match(r.stderr, 'CloudQuery source plugin "acme/sdk" v1.0.0 (registry cloudquery) is not available');
    t.match(r.stderr, `not in the plugin cache (${path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0/plugin')})`);
    t.match(r.stderr, 'CLOUDQUERY_API_KEY is not set');
    t.match(r.stderr, /registry: local .*registry: grpc/);
    t.notMatch(r.stderr, /unknown source connector/);
  }
  await writeFile(path.join(dir, 'nov.yml'), config(dir, '  path: acme/sdk'));
  const noVersion = await cli(['validate-config', 'nov.yml'], { cwd: dir, env: NO_KEY });
  t.equal(noVersion.code, 2);
  t.match(noVersion.stderr, /plugin "acme\/sdk" \(registry cloudquery\) has no version/);
  t.match(noVersion.stderr, 'add version: vX.Y.Z');
});

interface HubCall {
  url: string;
  auth: string | undefined;
}

/** A local stand-in for the Hub API: the version, the asset of this OS/arch, and the zip it points to. */
async function fakeHub(
  t: Test,
  opts: { zip: Buffer; assetStatus?: number; checksum?: string; packageType?: string },
): Promise<{ url: string; calls: HubCall[] }> {
  const calls: HubCall[] = [];
  const server = http.createServer((req, res) => {
    calls.push({ url: req.url!, auth: req.headers.authorization });
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/plugins/acme/source/sdk/versions/v1.0.0') return json(200, { name: 'v1.0.0', package_type: opts.packageType ?? 'native' });
    if (req.url === `/plugins/acme/source/sdk/versions/v1.0.0/assets/${GOOS}_${GOARCH}`) {
      if (opts.assetStatus && opts.assetStatus !== 200) return json(opts.assetStatus, { status: opts.assetStatus, message: 'no' });
      const checksum = opts.checksum ?? createHash('sha256').update(opts.zip).digest('hex');
      return json(200, { checksum, location: `${base}/download/plugin.zip?token=x` });
    }
    if (req.url === '/download/plugin.zip?token=x') return res.writeHead(200, { 'content-type': 'application/zip' }).end(opts.zip);
    json(404, { message: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, calls };
}

const ENTRY_IN_ZIP = `plugin-sdk-v1.0.0-${GOOS}-${GOARCH}`;

t.test('not cached, CLOUDQUERY_API_KEY set: downloaded from the Hub (CLOUDQUERY_API_URL) into the cache, then run from it', async (t) => {
  const dir = await tmpDir(t);
  const zip = zipFiles({ 'README.md': 'sdk test plugin', [ENTRY_IN_ZIP]: LAUNCHER });
  const hub = await fakeHub(t, { zip });
  await writeFile(path.join(dir, 'c.yml'), config(dir, HUB_SOURCE));
  const env = { CLOUDQUERY_API_KEY: 'test-key', CLOUDQUERY_API_URL: hub.url };
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 14,/);
  t.same(
    hub.calls.map((c) => c.url),
    ['/plugins/acme/source/sdk/versions/v1.0.0', `/plugins/acme/source/sdk/versions/v1.0.0/assets/${GOOS}_${GOARCH}`, '/download/plugin.zip?token=x'],
    'the version, its asset for this OS/arch, the zip',
  );
  t.same(
    hub.calls.map((c) => c.auth),
    ['Bearer test-key', 'Bearer test-key', undefined],
    'the API calls carry the key; the download location does not',
  );
  const cached = path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0');
  t.same((await readdir(cached)).sort(), ['plugin', 'plugin.zip'], 'the binary and its zip, as the CLI leaves them');
  t.equal((await stat(path.join(cached, 'plugin'))).mode & 0o777, 0o744, 'mode 0744');
  t.equal(await readFile(path.join(cached, 'plugin'), 'utf8'), LAUNCHER, 'the zip entry plugin-<name>-<version>-<os>-<arch>');
  const again = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env });
  t.equal(again.code, 0, again.stderr);
  t.equal(hub.calls.length, 3, 'a second sync asks the Hub nothing: the cache serves it');
});

t.test('Hub download failures: exit 2 naming the plugin and why; nothing left in the cache', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(dir, HUB_SOURCE));
  const zip = zipFiles({ [ENTRY_IN_ZIP]: LAUNCHER });
  const cases: [string, Parameters<typeof fakeHub>[1] | 'unreachable', RegExp][] = [
    ['401', { zip, assetStatus: 401 }, /the Hub refused CLOUDQUERY_API_KEY \(HTTP 401\)/],
    ['404', { zip, assetStatus: 404 }, /the Hub has no source plugin acme\/sdk version v1\.0\.0 for \w+ \(HTTP 404\)/],
    ['checksum', { zip, checksum: 'f'.repeat(64) }, /the archive's SHA-256 is [0-9a-f]{64}, the Hub says f{64}/],
    [
      'wrong entry',
      { zip: zipFiles({ 'plugin-other': LAUNCHER }) },
      new RegExp(`archive is unusable: it has no file ${ENTRY_IN_ZIP} \\(it has plugin-other\\)`),
    ],
    ['docker package', { zip, packageType: 'docker' }, /published as the docker image docker\.cloudquery\.io\/acme\/source-sdk:v1\.0\.0/],
    [
      'unreachable',
      'unreachable',
      /the CloudQuery Hub API at http:\/\/127\.0\.0\.1:\d+\/plugins\/acme\/source\/sdk\/versions\/v1\.0\.0 cannot be reached \(ECONNREFUSED\)/,
    ],
  ];
  for (const [name, hubOpts, reason] of cases) {
    const url = hubOpts === 'unreachable' ? `http://127.0.0.1:${await freePort()}` : (await fakeHub(t, hubOpts)).url;
    const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env: { CLOUDQUERY_API_KEY: 'k', CLOUDQUERY_API_URL: url } });
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, 'CloudQuery source plugin "acme/sdk" v1.0.0 (registry cloudquery) could not be downloaded from the CloudQuery Hub', name);
    t.match(r.stderr, reason, name);
    t.match(r.stderr, /registry: local .*registry: grpc/, `${name}: the other ways`);
    const left = await readdir(path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0')).catch(() => [] as string[]);
    t.notOk(left.includes('plugin'), `${name}: no binary in the cache`);
  }
});

t.test('registry github: the release zip of <team>/cq-source-<name> (CQ_PIPE_GITHUB_URL), cached', async (t) => {
  const dir = await tmpDir(t);
  const zip = zipFiles({ 'cq-source-sdk': LAUNCHER });
  const urls: string[] = [];
  const server = http.createServer((req, res) => {
    urls.push(req.url!);
    if (req.url === `/acme/cq-source-sdk/releases/download/v1.0.0/cq-source-sdk_${GOOS}_${GOARCH}.zip`) return res.writeHead(200).end(zip);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await writeFile(path.join(dir, 'c.yml'), config(dir, `${HUB_SOURCE}\n  registry: github`));
  const env = { ...NO_KEY, CQ_PIPE_GITHUB_URL: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` };
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 14,/);
  t.equal(urls.length, 1);
  t.equal(await readFile(path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0/plugin'), 'utf8'), LAUNCHER);
});

t.test('the zip reader: deflated entries by name; a missing entry or a non-zip named', async (t) => {
  const zip = zipFiles({ a: 'alpha', 'dir/b': Buffer.alloc(10_000, 7) });
  t.equal(readZipEntry(zip, 'a').toString(), 'alpha');
  t.same([...readZipEntry(zip, 'dir/b')], [...Buffer.alloc(10_000, 7)]);
  t.throws(() => readZipEntry(zip, 'c'), /it has no file c \(it has a, dir\/b\)/);
  t.throws(() => readZipEntry(Buffer.from('not a zip at all, just some text'), 'a'), /not a readable zip archive/);
});

t.test('registry docker without docker on PATH: exit 2 naming the image and the other ways', async (t) => {
  const dir = await tmpDir(t);
  const empty = path.join(dir, 'empty-bin');
  await mkdir(empty);
  await writeFile(path.join(dir, 'c.yml'), config(dir, '  registry: docker\n  path: example/sdk:1.0'));
  for (const cmd of ['sync', 'validate-config']) {
    const r = await cli([cmd, 'c.yml'], { cwd: dir, env: { PATH: empty } });
    t.equal(r.code, 2, `${cmd}: exit 2`);
    t.match(r.stderr, 'CloudQuery source plugin "example/sdk:1.0" (registry docker) is not available: the docker command is not on PATH');
    t.match(r.stderr, 'use registry: grpc with path: localhost:7777');
  }
});

t.test('registry docker with a docker whose daemon does not answer: exit 2 with docker’s own words', async (t) => {
  const dir = await tmpDir(t);
  const bin = path.join(dir, 'bin');
  await writeExecutable(path.join(bin, 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2\nexit 1\n');
  await writeFile(path.join(dir, 'c.yml'), config(dir, '  registry: docker\n  path: example/sdk:1.0'));
  const r = await cli(['validate-config', 'c.yml'], { cwd: dir, env: { PATH: bin } });
  t.equal(r.code, 2);
  t.match(r.stderr, '"example/sdk:1.0" (registry docker) is not available: Cannot connect to the Docker daemon at unix:///var/run/docker.sock.');
});

/**
 * A fake `docker` command: it records each call's arguments (one line each) and plays the container
 * with the SDK fixture plugin, which listens on `port` instead of the container's 7777.
 */
async function fakeDocker(dir: string, port: number, entry = PLUGIN_ENTRY): Promise<{ bin: string; calls: () => Promise<string[]> }> {
  const bin = path.join(dir, 'fake-bin');
  const state = path.join(dir, 'container');
  await mkdir(state, { recursive: true });
  const script = `#!/bin/sh
echo "$*" >> "${state}/calls"
cmd=$1
shift
case "$cmd" in
  run)
    while [ "$#" -gt 0 ] && [ "$1" != serve ]; do shift; done
    n=$#
    prev=
    for a do
      if [ "$prev" = --address ]; then set -- "$@" "127.0.0.1:${port}"; else set -- "$@" "$a"; fi
      prev=$a
    done
    shift "$n"
    "${process.execPath}" "${entry}" "$@" > "${state}/log" 2>&1 &
    echo $! > "${state}/pid"
    echo 0123456789ab
    ;;
  version) echo 28.2.2 ;;
  port) printf '0.0.0.0:${port}\\n[::]:${port}\\n' ;;
  logs) exec tail -n +1 -f "${state}/log" ;;
  inspect) if kill -0 "$(cat "${state}/pid")" 2>/dev/null; then echo "running 0"; else echo "exited 1"; fi ;;
  stop)
    pid=$(cat "${state}/pid")
    kill -INT "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    ;;
  rm) rm -f "${state}/pid" ;;
  *) echo "fake docker: unexpected $cmd" >&2; exit 1 ;;
esac
`;
  await writeExecutable(path.join(bin, 'docker'), script);
  return { bin, calls: async () => (await readFile(path.join(state, 'calls'), 'utf8')).trim().split('\n') };
}

t.test('registry docker: docker run as the CLI runs the image, port 7777 published, dialled, logs counted, container stopped and removed', async (t) => {
  const dir = await tmpDir(t);
  const port = await freePort();
  const docker = await fakeDocker(dir, port);
  await writeFile(path.join(dir, 'c.yml'), config(dir, '  registry: docker\n  path: example/sdk:1.0', '{ rows: 4, log_marker: "from the container" }'));
  const r = await cli(['sync', 'c.yml', '--no-progress', '--summary-location', 's.json'], {
    cwd: dir,
    env: { PATH: `${docker.bin}${path.delimiter}${process.env.PATH}` },
  });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 14, Errors: 0, Warnings: 1,/);
  const [s] = await summaries(path.join(dir, 's.json'));
  t.equal(s!.source_warnings, 1, 'the container log’s warn line is counted');
  const calls = await docker.calls();
  t.equal(calls[0], 'version --format {{.Server.Version}}', 'the daemon is asked first (at config load, and again when the source opens)');
  const rest = calls.filter((c) => !c.startsWith('inspect ') && !c.startsWith('version '));
  const serve = 'serve --log-level info --log-format json --network tcp --address 0.0.0.0:7777';
  t.match(rest.shift(), new RegExp(`^run --detach --tty --name sdk-[0-9a-f-]{36} --publish 127\\.0\\.0\\.1::7777/tcp example/sdk:1\\.0 ${serve}$`));
  t.same(
    rest,
    ['port 0123456789ab 7777/tcp', 'logs --follow 0123456789ab', 'stop --time 10 0123456789ab', 'rm --force 0123456789ab'],
    'port mapping, log stream, then stop and remove',
  );
  t.equal(await readFile(path.join(dir, 'container/pid'), 'utf8').catch(() => 'removed'), 'removed', 'the container is removed');
});

t.test('registry docker with otel_endpoint: the container gets --otel-endpoint and --otel-endpoint-insecure, as a local plugin', async (t) => {
  const dir = await tmpDir(t);
  const docker = await fakeDocker(dir, await freePort());
  // nothing listens there: cq-pipe's own export fails with a warning, the plugin only takes the flags
  const otel = `127.0.0.1:${await freePort()}`;
  const source = `  registry: docker\n  path: example/sdk:1.0\n  otel_endpoint: "${otel}"\n  otel_endpoint_insecure: true`;
  await writeFile(path.join(dir, 'c.yml'), config(dir, source));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env: { PATH: `${docker.bin}${path.delimiter}${process.env.PATH}` } });
  t.equal(r.code, 0, r.stderr);
  const run = (await docker.calls()).find((c) => c.startsWith('run '));
  t.match(
    run,
    new RegExp(
      `^run --detach --tty --name sdk-[0-9a-f-]{36} --publish 127\\.0\\.0\\.1::7777/tcp example/sdk:1\\.0 ` +
        'serve --log-level info --log-format json --network tcp --address 0\\.0\\.0\\.0:7777 ' +
        `--otel-endpoint ${otel.replace(/\./g, '\\.')} --otel-endpoint-insecure$`,
    ),
  );
});

t.test('registry docker for a destination: the image runs as the CLI runs it, gets the rows, its log is counted, and is stopped and removed', async (t) => {
  const recorder = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-recorder.js');
  const dir = await tmpDir(t);
  const docker = await fakeDocker(dir, await freePort(), recorder);
  const record = path.join(dir, 'record.jsonl');
  await writeFile(
    path.join(dir, 'c.yml'),
    'kind: source\nspec: { name: demo, path: test, tables: ["*"], destinations: [rec], spec: { num_rows: 7 } }\n---\n' +
      `kind: destination\nspec:\n  name: rec\n  registry: docker\n  path: example/rec:2.0\n  write_mode: append\n` +
      `  spec: { record: "${record}", log_warn: "from the destination container" }\n`,
  );
  const env = { PATH: `${docker.bin}${path.delimiter}${process.env.PATH}` };
  const r = await cli(['sync', 'c.yml', '--no-progress', '--summary-location', 's.json'], { cwd: dir, env });
  t.equal(r.code, 0, r.stderr);
  const [s] = await summaries(path.join(dir, 's.json'));
  t.same([s!.destination_warnings, s!.destination_errors, s!.source_warnings], [1, 0, 0], 'the container log’s warn line counts for the destination');
  const events = (await readFile(record, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; rows?: unknown[] });
  t.equal(
    events.filter((e) => e.event === 'insert').reduce((n, e) => n + (e.rows?.length ?? 0), 0),
    7,
    'the 7 rows reached the plugin',
  );
  t.equal(events.filter((e) => e.event === 'delete').length, 0, 'append: no delete-stale');
  const calls = (await docker.calls()).filter((c) => !c.startsWith('inspect ') && !c.startsWith('version '));
  t.match(calls[0], /^run --detach --tty --name rec-[0-9a-f-]{36} --publish 127\.0\.0\.1::7777\/tcp example\/rec:2\.0 serve /);
  t.same(calls.slice(-2), ['stop --time 10 0123456789ab', 'rm --force 0123456789ab']);
});

t.test('a destination plugin in the CLI cache (.cq/plugins/destination/…) runs as a local destination plugin', async (t) => {
  const recorder = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-recorder.js');
  const dir = await tmpDir(t);
  await writeExecutable(path.join(dir, '.cq/plugins/destination/acme/rec/v2.0.0/plugin'), `#!/bin/sh\nexec "${process.execPath}" "${recorder}" "$@"\n`);
  await writeExecutable(path.join(dir, '.cq/plugins/source/acme/sdk/v1.0.0/plugin'), LAUNCHER);
  const record = path.join(dir, 'record.jsonl');
  await writeFile(
    path.join(dir, 'c.yml'),
    `kind: source\nspec:\n  name: sdk\n${HUB_SOURCE}\n  tables: [events]\n  destinations: [rec]\n  spec: {}\n---\n` +
      `kind: destination\nspec:\n  name: rec\n  path: acme/rec\n  version: v2.0.0\n  write_mode: append\n  spec: { record: "${record}" }\n`,
  );
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env: NO_KEY });
  t.equal(r.code, 0, r.stderr);
  const events = (await readFile(record, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; rows?: unknown[] });
  t.equal(
    events.filter((e) => e.event === 'insert').reduce((n, e) => n + (e.rows?.length ?? 0), 0),
    2,
    'the 2 events rows reached the plugin',
  );
  const noKey = await cli(['validate-config', 'c.yml', '--cq-dir', 'elsewhere'], { cwd: dir, env: NO_KEY });
  t.equal(noKey.code, 2);
  t.match(noKey.stderr, 'CloudQuery destination plugin "acme/rec" v2.0.0 (registry cloudquery) is not available');
  t.match(noKey.stderr, path.join(dir, 'elsewhere/plugins/destination/acme/rec/v2.0.0/plugin'));
});
