/**
 * An s3rver that also honours S3's conditional writes (`If-Match` / `If-None-Match: *` on PUT,
 * answering 412 PreconditionFailed), which real S3, MinIO and R2 implement but s3rver 3 does not.
 * A small Koa middleware in front of s3rver's own routes compares the header with the stored
 * object's ETag; everything else is s3rver unchanged. Started on demand, stopped in tap.teardown.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

interface Ctx {
  method: string;
  path: string;
  querystring: string;
  headers: Record<string, string | undefined>;
  status: number;
  body: unknown;
  type: string;
  app: { store: { getMetadata(b: string, k: string): Promise<Record<string, string> | undefined> } };
}
interface S3rverInstance {
  middleware: ((ctx: Ctx, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}

export async function conditionalS3(): Promise<{ endpoint: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cq-s3c-'));
  const S3rver = createRequire(import.meta.url)('s3rver') as new (o: Record<string, unknown>) => S3rverInstance;
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, vhostBuckets: false, configureBuckets: [{ name: 'state-bucket' }] });
  server.middleware.unshift(async (ctx, next) => {
    const ifMatch = ctx.headers['if-match'];
    const ifNoneMatch = ctx.headers['if-none-match'];
    if (ctx.method === 'PUT' && !/uploadId|partNumber/.test(ctx.querystring) && (ifMatch || ifNoneMatch)) {
      const [, bucket, ...rest] = ctx.path.split('/');
      let etag: string | undefined;
      try {
        etag = (await ctx.app.store.getMetadata(bucket!, decodeURIComponent(rest.join('/'))))?.etag;
      } catch {
        etag = undefined;
      }
      const fails = (ifNoneMatch === '*' && etag !== undefined) || (ifMatch !== undefined && ifMatch !== etag);
      if (fails) {
        ctx.status = 412;
        ctx.type = 'application/xml';
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did ' +
          'not hold</Message></Error>';
        return;
      }
    }
    await next();
  });
  const addr = await server.run();
  t.teardown(async () => {
    server.httpServer?.closeAllConnections();
    await server.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  return { endpoint: `http://127.0.0.1:${addr.port}` };
}
