/**
 * A real S3 HTTP API for tests: s3rver on a free loopback port, storing into a temp dir. Started
 * once per test process (on first use) and stopped in tap.teardown. Every request it serves is
 * logged (method and URL), so tests can count e.g. UploadPart calls.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

interface KoaContext {
  method: string;
  url: string;
  status: number;
  type: string;
  body: unknown;
  req: { resume(): void };
}

interface S3rverInstance {
  middleware: ((ctx: KoaContext, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<{ port: number; address: string }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

export const S3_ACCESS_KEY = 'S3RVER';
export const S3_SECRET_KEY = 'S3RVER';

export interface S3Server {
  endpoint: string;
  dir: string;
  /** every request served: method, URL (path and query) and Range header */
  requests: { method: string; url: string; range?: string }[];
}

let started: Promise<S3Server> | undefined;
const breaks: { match: (url: string) => boolean; afterBytes: number }[] = [];

/** send the first `afterBytes` body bytes of the response, then drop the connection */
function cutAfter(res: ServerResponse, afterBytes: number): void {
  let sent = 0;
  const write = res.write.bind(res) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  res.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    if (sent + buf.byteLength <= afterBytes) {
      sent += buf.byteLength;
      return write(buf, ...rest);
    }
    write(buf.subarray(0, afterBytes - sent));
    sent = afterBytes;
    setImmediate(() => res.socket?.destroy());
    return false;
  }) as typeof res.write;
}

const faults: { match: (method: string, url: string) => boolean; status: number; code: string }[] = [];

/**
 * Fault injection: the next request matching `match` (method, URL) is answered with an S3 error
 * (503 SlowDown by default) instead of being served. Queue several for several failures.
 */
export function failNext(match: (method: string, url: string) => boolean, status = 503, code = 'SlowDown'): void {
  faults.push({ match, status, code });
}

/**
 * Fault injection: the next GET whose URL matches sends `afterBytes` bytes of its body, then the
 * server drops the connection (a network failure in the middle of an object).
 */
export function breakNextGet(match: (url: string) => boolean, afterBytes: number): void {
  breaks.push({ match, afterBytes });
}

export function s3Server(): Promise<S3Server> {
  started ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cq-s3rver-'));
    const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
    const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, vhostBuckets: false });
    // fault injection ahead of every s3rver handler (see failNext)
    server.middleware.unshift(async (ctx, next) => {
      const i = faults.findIndex((f) => f.match(ctx.method, ctx.url));
      if (i < 0) return next();
      const f = faults.splice(i, 1)[0]!;
      ctx.req.resume(); // drain the request body
      ctx.status = f.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${f.code}</Code><Message>injected by the test</Message></Error>`;
    });
    const addr = await server.run();
    const requests: S3Server['requests'] = [];
    server.httpServer!.prependListener('request', (req, res) => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}) });
      const i = breaks.findIndex((b) => req.method === 'GET' && b.match(req.url ?? ''));
      if (i >= 0) cutAfter(res, breaks.splice(i, 1)[0]!.afterBytes);
    });
    t.teardown(async () => {
      server.httpServer?.closeAllConnections();
      await server.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    });
    return { endpoint: `http://127.0.0.1:${addr.port}`, dir, requests };
  })();
  return started;
}

/** An SDK client of the test server (path-style, its static keys). */
let shared: Promise<S3Client> | undefined;

export function s3Client(): Promise<S3Client> {
  shared ??= makeClient();
  return shared;
}

async function makeClient(): Promise<S3Client> {
  const { endpoint } = await s3Server();
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.teardown(() => client.destroy());
  return client;
}

let buckets = 0;

/** A new empty bucket with a unique name. */
export async function createBucket(prefix = 'bkt'): Promise<string> {
  const name = `${prefix}-${process.pid}-${++buckets}`;
  const client = await s3Client();
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** The connection keys of an s3 connector spec pointing at the test server. */
export async function s3Spec(bucket: string): Promise<Record<string, unknown>> {
  const { endpoint } = await s3Server();
  return { bucket, region: 'us-east-1', endpoint, use_path_style: true, access_key_id: S3_ACCESS_KEY, secret_access_key: S3_SECRET_KEY };
}

export async function putObject(bucket: string, key: string, body: Uint8Array | string): Promise<void> {
  const client = await s3Client();
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function getObject(bucket: string, key: string): Promise<Buffer> {
  const client = await s3Client();
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** Every key under a prefix, sorted, with its size and ETag. */
export async function listObjects(bucket: string, prefix = ''): Promise<{ key: string; size: number; etag: string }[]> {
  const client = await s3Client();
  const out: { key: string; size: number; etag: string }[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? 0, etag: o.ETag ?? '' });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
