/**
 * `s3://bucket/prefix?endpoint=…&region=…&path_style=true`: the whole state of a source as one
 * JSON object `<prefix>/<table_name>.json`, replaced with a conditional put — `If-Match` the ETag
 * it was loaded with (or `If-None-Match: *` when new) — so a concurrent writer gets a clear
 * conflict error instead of silently losing keys. Credentials come from the standard AWS chain
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles).
 */
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StateBackendProvider } from '../../lib/registry.js';
import { createS3Client } from './client.js';
import { StateConflictError } from '../../lib/errors.js';
import { MemoryState } from '../../lib/state/types.js';

/** The conditional PUT of the snapshot lost to another writer (CQ_ERR_STATE_CONFLICT). */
export class S3StateConflictError extends StateConflictError {
  constructor(where: string, cause: unknown) {
    super(`state conflict: ${where} was changed by another writer since this sync loaded it; the state was not saved`, { phase: 'state' }, cause);
    this.name = 'S3StateConflictError';
  }
}

export class S3State extends MemoryState {
  override readonly description: string;
  private etag: string | undefined;
  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
  ) {
    super();
    this.description = `s3://${bucket}/${key}`;
  }

  static async open(connection: string, table: string): Promise<S3State> {
    const u = new URL(connection);
    const bucket = u.hostname;
    const prefix = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, ''));
    const q = u.searchParams;
    const client = createS3Client({
      bucket,
      region: q.get('region') ?? process.env.AWS_REGION ?? undefined,
      endpoint: q.get('endpoint') ?? undefined,
      use_path_style: q.get('path_style') === 'true' || q.get('use_path_style') === 'true',
      // static credentials of an s3 destination named by @@plugins.<name>.connection (docs/config.md)
      access_key_id: q.get('access_key_id') ?? undefined,
      secret_access_key: q.get('secret_access_key') ?? undefined,
      session_token: q.get('session_token') ?? undefined,
      local_profile: q.get('local_profile') ?? undefined,
    });
    const s = new S3State(client, bucket, `${prefix ? `${prefix}/` : ''}${table}.json`);
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: s.key }));
      const doc = JSON.parse(await r.Body!.transformToString()) as Record<string, { value: string; version: string }>;
      for (const [k, v] of Object.entries(doc)) s.values.set(k, { value: v.value, version: BigInt(v.version) });
      s.etag = r.ETag;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404 && (err as { name?: string }).name !== 'NoSuchKey') throw err;
    }
    return s;
  }

  override async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const doc = Object.fromEntries([...this.values].map(([k, v]) => [k, { value: v.value, version: v.version.toString() }]));
    const body = JSON.stringify(doc, null, 2) + '\n';
    try {
      const r = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key,
          Body: body,
          ContentType: 'application/json',
          ...(this.etag ? { IfMatch: this.etag } : { IfNoneMatch: '*' }),
        }),
      );
      this.etag = r.ETag;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 412 && status !== 409) throw err;
      // a retried PUT whose first answer was lost (the write happened) fails its own precondition:
      // the stored snapshot is then exactly ours, and nothing was lost
      const stored = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key })).then(
        async (r) => ({ body: await r.Body!.transformToString(), etag: r.ETag }),
        () => undefined,
      );
      if (stored?.body !== body) throw new S3StateConflictError(this.description, err);
      this.etag = stored.etag;
    }
    this.dirty.clear();
  }

  override async close(): Promise<void> {
    this.client.destroy();
  }
}

/** `s3://bucket/prefix?endpoint=…&region=…&path_style=true` state. */
export const s3StateBackend: StateBackendProvider = {
  schemes: ['s3://'],
  open: (connection, table) => S3State.open(connection, table),
};
