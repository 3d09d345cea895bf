/**
 * `otel_endpoint` (docs/observability.md): a sync exports its spans and counters over OTLP/HTTP (JSON)
 * to a real local HTTP server standing in for the collector; an unreachable collector is a warning;
 * a plugin cq-pipe spawns gets `--otel-endpoint`.
 */
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ROOT, tmpDir } from './helpers/index.js';
import { cli } from './helpers/cli.js';
import { freePort } from './helpers/sdk-plugin.js';

interface Post {
  url: string;
  contentType: string;
  body: Record<string, unknown[]>;
}

/** an OTLP/HTTP collector: records each POST, answers 200 `{}` */
async function collector(t: Test): Promise<{ endpoint: string; posts: Post[] }> {
  const posts: Post[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      posts.push({ url: req.url ?? '', contentType: String(req.headers['content-type']), body: req.method === 'POST' ? JSON.parse(text) : {} });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`, posts };
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number };
type Attr = { key: string; value: AnyValue };
const attrs = (list: Attr[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.doubleValue)]));

/** every span of the trace posts: name, attributes, status code, resource attributes */
function spans(posts: Post[]) {
  return posts
    .filter((p) => p.url === '/v1/traces')
    .flatMap((p) =>
      (
        p.body.resourceSpans as {
          resource: { attributes: Attr[] };
          scopeSpans: { spans: { name: string; attributes: Attr[]; status?: { code?: number } }[] }[];
        }[]
      ).flatMap((rs) =>
        rs.scopeSpans.flatMap((ss) =>
          ss.spans.map((s) => ({ name: s.name, attributes: attrs(s.attributes), status: s.status?.code ?? 0, resource: attrs(rs.resource.attributes) })),
        ),
      ),
    );
}

/** the last (cumulative) value of a counter, summed over its data points */
function counter(posts: Post[], name: string): number | undefined {
  let last: number | undefined;
  for (const p of posts.filter((x) => x.url === '/v1/metrics')) {
    for (const rm of p.body.resourceMetrics as {
      scopeMetrics: { metrics: { name: string; sum?: { dataPoints: { asInt?: string | number; asDouble?: number }[] } }[] }[];
    }[]) {
      for (const m of rm.scopeMetrics.flatMap((s) => s.metrics).filter((x) => x.name === name)) {
        last = m.sum!.dataPoints.reduce((n, d) => n + Number(d.asInt ?? d.asDouble ?? 0), 0);
      }
    }
  }
  return last;
}

function config(dir: string, o: { source?: string; destination?: string; sourceSpec?: string; sourcePath?: string } = {}): string {
  return `kind: source
spec:
  name: src
  path: ${o.sourcePath ?? 'test'}
  destinations: [out]
${o.source ?? ''}  spec: ${o.sourceSpec ?? '{ num_tables: 1, num_rows: 7 }'}
---
kind: destination
spec:
  name: out
  path: file
${o.destination ?? ''}  spec: { path: "${dir}/out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: ndjson }
`;
}

const lastLine = (stderr: string) => stderr.trim().split('\n').pop();

t.test('a source with otel_endpoint exports the sync span and the rows counter over OTLP/HTTP JSON', async (t) => {
  const { endpoint, posts } = await collector(t);
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(dir, { source: `  otel_endpoint: "${endpoint}"\n  otel_endpoint_insecure: true\n` }));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(lastLine(r.stderr), /Resources: 7, Errors: 0, Warnings: 0/);
  t.ok(
    posts.some((p) => p.url === '/v1/traces'),
    'traces posted',
  );
  t.ok(
    posts.some((p) => p.url === '/v1/metrics'),
    'metrics posted',
  );
  t.ok(
    posts.every((p) => p.contentType === 'application/json'),
    'OTLP JSON',
  );
  const all = spans(posts);
  const sync = all.filter((s) => s.name === 'cq-pipe.sync');
  t.equal(sync.length, 1);
  t.equal(sync[0]!.attributes['cq.source'], 'src');
  t.equal(sync[0]!.attributes['cq.rows'], 7);
  t.equal(sync[0]!.attributes['cq.table_errors'], 0);
  t.equal(sync[0]!.status, 1, 'status OK');
  t.equal(sync[0]!.resource['service.name'], 'cq-pipe');
  const batches = all.filter((s) => s.name === 'cq-pipe.write-batch');
  t.equal(
    batches.reduce((n, s) => n + Number(s.attributes['cq.rows']), 0),
    7,
    'write-batch spans carry every row',
  );
  t.equal(counter(posts, 'cq_pipe.rows_written'), 7);
});

t.test('a destination with otel_endpoint exports too; a failed sync still flushes its spans and the error counter', async (t) => {
  const { endpoint, posts } = await collector(t);
  const dir = await tmpDir(t);
  await writeFile(
    path.join(dir, 'c.yml'),
    config(dir, {
      sourcePath: 'cloudquery/test',
      sourceSpec: '{ num_rows: 3, fail_immediately: true }',
      destination: `  otel_endpoint: "${endpoint}"\n  otel_endpoint_insecure: true\n`,
    }),
  );
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 1, r.stderr);
  const sync = spans(posts).filter((s) => s.name === 'cq-pipe.sync');
  t.equal(sync.length, 1);
  t.ok(Number(sync[0]!.attributes['cq.table_errors']) > 0, 'the span counts the table errors');
  t.ok(Number(counter(posts, 'cq_pipe.table_errors')) > 0, 'the error counter arrived');
});

t.test('an unreachable collector is a warning: the sync succeeds and writes its rows', async (t) => {
  const port = await freePort();
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(dir, { source: `  otel_endpoint: "127.0.0.1:${port}"\n  otel_endpoint_insecure: true\n` }));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`WARN\\s+OpenTelemetry export to http://127\\.0\\.0\\.1:${port} failed; the sync goes on without it`));
  t.match(lastLine(r.stderr), /^Sync completed successfully\. Resources: 7, Errors: 0, Warnings: 1/);
  t.equal((await readdir(path.join(dir, 'out'))).length, 1, 'the table was written');
});

t.test('the config schema takes otel_endpoint on sources and destinations, and checks its type', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'ok.yml'), config(dir, { source: '  otel_endpoint: ""\n', destination: '  otel_endpoint: "localhost:4318"\n' }));
  t.equal((await cli(['validate-config', 'ok.yml'], { cwd: dir })).code, 0);
  await writeFile(path.join(dir, 'bad.yml'), config(dir, { source: '  otel_endpoint_insecure: "yes"\n' }));
  const bad = await cli(['validate-config', 'bad.yml'], { cwd: dir });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /otel_endpoint_insecure/);
});

t.test('a plugin cq-pipe spawns (registry: local) gets --otel-endpoint and --otel-endpoint-insecure on its serve line', async (t) => {
  const { endpoint } = await collector(t);
  const dir = await tmpDir(t);
  const entry = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-source.js');
  const binary = path.join(dir, 'sdk-plugin');
  await writeFile(binary, `#!/bin/sh\necho "$@" >> "${dir}/args.txt"\nexec "${process.execPath}" "${entry}" "$@"\n`);
  await chmod(binary, 0o755);
  await writeFile(
    path.join(dir, 'c.yml'),
    config(dir, {
      sourcePath: './sdk-plugin',
      sourceSpec: '{ rows: 2 }',
      source: `  registry: local\n  otel_endpoint: "${endpoint}"\n  otel_endpoint_insecure: true\n`,
    }).replace('  path: file\n', '  path: file\n  write_mode: append\n'),
  );
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const args = (await readFile(path.join(dir, 'args.txt'), 'utf8')).trim();
  t.match(args, new RegExp(`^serve .* --otel-endpoint ${endpoint.replace(/\./g, '\\.')} --otel-endpoint-insecure$`));
});
