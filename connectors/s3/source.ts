/**
 * The `s3` source (docs/semantics.md): the file source's tables over the objects of one bucket.
 *
 *   spec:
 *     bucket: lake
 *     region: us-east-1
 *     endpoint: http://127.0.0.1:9000   # optional: any S3-compatible service
 *     use_path_style: true
 *     tables:
 *       - { name: payments, files: "pq/payments/*.parquet", primary_key: [id], incremental: true }
 *
 * `files` are key globs inside the bucket (picomatch; `*` stays within one `/` level, `**` crosses
 * them). Each glob is listed by its static prefix (`pq/payments/`), then matched. Formats, inference,
 * explicit columns, CSV options, incremental tables (objects compared by ETag) and sharding are the
 * file source's (connectors/file/source.ts); bytes come from connectors/s3/object-input.ts.
 */
import picomatch from 'picomatch';
import { ListObjectsV2Command, type ListObjectsV2CommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { defineSource, type ConnectorContext, type SourceClient, type SpecProblem } from '../../lib/connector.js';
import { ConfigError, SourceReadError } from '../../lib/errors.js';
import { createFileTableSource, fileSourceSchema, validateFileSource, type FileLister, type FileSourceSpec, type FileTableSpec } from '../file/source.js';
import {
  DEFAULT_MAX_ATTEMPTS,
  S3_CONNECTION_PROPERTIES,
  checkBucket,
  connectionProblems,
  createS3Client,
  describeBucket,
  s3Reason,
  type S3ConnectionSpec,
} from './client.js';
import { S3ObjectInput, type S3ObjectRef } from './object-input.js';

export interface S3SourceSpec extends S3ConnectionSpec, FileSourceSpec {}

export const s3SourceSchema = {
  ...fileSourceSchema,
  required: ['bucket', 'tables'],
  properties: {
    ...S3_CONNECTION_PROPERTIES,
    ...fileSourceSchema.properties,
  },
} as const;

function patternsOf(t: FileTableSpec): string[] {
  return Array.isArray(t.files) ? t.files : [t.files];
}

function validate(spec: S3SourceSpec): SpecProblem[] {
  const problems = [...connectionProblems(spec), ...validateFileSource(spec)];
  spec.tables.forEach((t, i) => {
    const list = Array.isArray(t.files);
    patternsOf(t).forEach((p, j) => {
      const keyPath = list ? ['tables', i, 'files', j] : ['tables', i, 'files'];
      if (/^s3:\/\//i.test(p))
        problems.push({
          keyPath,
          message: `"${p}" must be a key glob inside the bucket, not a URL`,
          hint: 'put the bucket name in spec.bucket and e.g. "pq/payments/*.parquet" in files',
        });
      else if (/^(\/|\.\.?\/)/.test(p))
        problems.push({
          keyPath,
          message: `"${p}" must be a key glob inside the bucket: keys do not start with "/" or "./"`,
          hint: `e.g. files: "${p.replace(/^(\.\.?\/|\/)+/, '')}"`,
        });
    });
  });
  return problems;
}

/** The prefix to list for a key glob: everything before its first magic segment. */
export function listPrefix(pattern: string): string {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) return pattern;
  return scan.base ? `${scan.base}/` : '';
}

function s3Lister(client: S3Client, spec: S3SourceSpec, ctx: ConnectorContext): FileLister {
  let checked: Promise<void> | undefined;
  const listed = new Map<string, Promise<S3ObjectRef[]>>();
  const maxAttempts = spec.max_attempts ?? DEFAULT_MAX_ATTEMPTS;

  const listPrefixOnce = (prefix: string): Promise<S3ObjectRef[]> => {
    let p = listed.get(prefix);
    if (!p) {
      p = (async () => {
        const out: S3ObjectRef[] = [];
        let token: string | undefined;
        do {
          let page: ListObjectsV2CommandOutput;
          try {
            page = await client.send(new ListObjectsV2Command({ Bucket: spec.bucket, Prefix: prefix || undefined, ContinuationToken: token }));
          } catch (err) {
            throw new SourceReadError(`listing ${describeBucket(spec)} under "${prefix}" failed: ${s3Reason(err)}`, { connector: ctx.name }, err);
          }
          for (const o of page.Contents ?? []) {
            if (!o.Key || o.Key.endsWith('/')) continue; // "folder" markers
            out.push({ bucket: spec.bucket, key: o.Key, size: o.Size ?? 0, etag: o.ETag ?? '' });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return out;
      })();
      listed.set(prefix, p);
    }
    return p;
  };

  return {
    async list(t) {
      checked ??= checkBucket(client, spec, { connector: ctx.name, table: t.name }, (msg, context, cause) => new SourceReadError(msg, context, cause));
      await checked;
      const byKey = new Map<string, S3ObjectRef>();
      for (const pattern of patternsOf(t)) {
        const isMatch = picomatch.scan(pattern).isGlob ? picomatch(pattern) : (k: string) => k === pattern;
        for (const o of await listPrefixOnce(listPrefix(pattern))) if (isMatch(o.key)) byKey.set(o.key, o);
      }
      return [...byKey.values()]
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map((ref) => new S3ObjectInput(ref, { client, maxAttempts, connector: ctx.name }));
    },
    describe: () => `in ${describeBucket(spec)}`,
  };
}

export const s3Source = defineSource<S3SourceSpec>({
  name: 's3',
  configSchema: s3SourceSchema,
  validate,
  create(spec, ctx): SourceClient {
    const problems = validate(spec);
    if (problems.length) {
      const p = problems[0]!;
      throw new ConfigError(p.message, { connector: ctx.name, keyPath: `spec.${p.keyPath.join('.')}` }, p.hint);
    }
    const client = createS3Client(spec);
    const inner = createFileTableSource(spec, ctx, s3Lister(client, spec, ctx));
    return {
      ...inner,
      tables: () => inner.tables(),
      read: (tables, opts) => inner.read(tables, opts),
      async close() {
        await inner.close?.();
        client.destroy();
      },
    };
  },
});
