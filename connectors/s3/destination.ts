/**
 * The `s3` destination: the file destination's formats, compression, path templates and rotation,
 * written by the shared object writer (connectors/object-writer/writer.ts) as objects of one bucket
 * (./sink.ts: streamed multipart uploads that appear only once complete, aborted on failure).
 *
 *   spec: { bucket: lake, region: us-east-1, endpoint: "http://127.0.0.1:9000", use_path_style: true,
 *           path: "raw/{{TABLE}}/{{YEAR}}/{{MONTH}}/{{UUID}}.{{FORMAT}}", format: parquet,
 *           compression: none | gzip (ndjson, csv), no_rotate: false }
 *
 * The bucket is checked with HeadBucket before the first write. docs/s3.md has the details.
 */
import { defineDestination, type ConnectorContext, type DestinationClient, type SpecProblem } from '../../lib/connector.js';
import { ConfigError } from '../../lib/errors.js';
import type { FileDestinationSpec } from '../file/destination.js';
import { OBJECT_WRITER_PROPERTIES, objectWriterSettings, specProblem, type ObjectWriterSettings } from '../object-writer/settings.js';
import { ObjectWriter } from '../object-writer/writer.js';
import { DEFAULT_REGION, S3_CONNECTION_PROPERTIES, connectionProblems, type S3ConnectionSpec } from './client.js';
import { staticDirectory } from '../../lib/path-template.js';
import { S3Objects, type ObjectParams, type S3ObjectOptions, type WrittenObject } from './sink.js';
import type { ObjectCannedACL } from '@aws-sdk/client-s3';

export type { WrittenObject };

export const DEFAULT_S3_PATH = '{{TABLE}}/{{UUID}}.{{FORMAT}}';

export interface S3DestinationSpec extends S3ConnectionSpec, Omit<FileDestinationSpec, 'path'> {
  path?: string;
  // CloudQuery's s3 destination keys (its spec/schema.json), docs/s3.md
  part_size?: number;
  content_type?: string;
  acl?: string;
  server_side_encryption_configuration?: { sse_kms_key_id: string; server_side_encryption: 'AES256' | 'aws:kms' | 'aws:kms:dsse' };
  test_write?: boolean;
  athena?: boolean;
  write_empty_objects_for_empty_tables?: boolean;
  aws_debug?: boolean;
  max_backoff?: number;
}

/** CloudQuery's keys that mean nothing to cq-pipe: accepted, one notice each when set */
const S3_NOTICES: Partial<Record<keyof S3DestinationSpec, string>> = {
  athena: 'athena is accepted and not applied: cq-pipe does not rewrite JSON keys for Hive/Athena',
  write_empty_objects_for_empty_tables: 'write_empty_objects_for_empty_tables is accepted and not applied: a table without rows writes no object',
  aws_debug: "aws_debug is accepted: use --log-level debug for cq-pipe's request log",
  max_backoff: "max_backoff is accepted and not applied: the AWS SDK's standard retry strategy sets the backoff",
};

const S3_DESTINATION_PROPERTIES = {
  part_size: { type: 'integer', minimum: 5 * 1024 * 1024, maximum: 5 * 1024 * 1024 * 1024 },
  content_type: { type: 'string' },
  acl: {
    type: 'string',
    enum: ['', 'private', 'public-read', 'public-read-write', 'authenticated-read', 'aws-exec-read', 'bucket-owner-read', 'bucket-owner-full-control'],
  },
  server_side_encryption_configuration: {
    type: 'object',
    additionalProperties: false,
    required: ['sse_kms_key_id', 'server_side_encryption'],
    properties: {
      sse_kms_key_id: { type: 'string', minLength: 1 },
      server_side_encryption: { type: 'string', enum: ['AES256', 'aws:kms', 'aws:kms:dsse'] },
    },
  },
  test_write: { type: 'boolean', default: false },
  athena: { type: 'boolean', default: false },
  write_empty_objects_for_empty_tables: { type: 'boolean', default: false },
  aws_debug: { type: 'boolean', default: false },
  max_backoff: { type: 'integer', minimum: 0 },
} as const;

/** The object parameters, part size and test-write key of a spec. */
function objectOptions(spec: S3DestinationSpec, settings: ObjectWriterSettings, ctx: ConnectorContext): S3ObjectOptions {
  const sse = spec.server_side_encryption_configuration;
  const params: ObjectParams = {
    ...(spec.acl ? { ACL: spec.acl as ObjectCannedACL } : {}),
    ...(spec.content_type ? { ContentType: spec.content_type } : {}),
    ...(sse ? { ServerSideEncryption: sse.server_side_encryption, SSEKMSKeyId: sse.sse_kms_key_id } : {}),
  };
  const testWriteKey = spec.test_write
    ? settings.template.render({ table: 'TEST_TABLE', uuid: 'TEST_UUID', format: settings.extension, time: ctx.syncTime, syncId: ctx.invocationId })
    : undefined;
  return { partSize: spec.part_size, params, testWriteKey };
}

export const s3DestinationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['bucket'],
  properties: {
    ...S3_CONNECTION_PROPERTIES,
    path: { type: 'string', minLength: 1, default: DEFAULT_S3_PATH },
    ...OBJECT_WRITER_PROPERTIES,
    ...S3_DESTINATION_PROPERTIES,
  },
} as const;

/** The file destination's checks plus key rules: keys are relative to the bucket. */
export function s3Settings(spec: S3DestinationSpec, connector: string): ObjectWriterSettings {
  const template = spec.path ?? DEFAULT_S3_PATH;
  const where = { connector, keyPath: 'spec.path' };
  if (/^(\/|\.\.?\/)/.test(template)) {
    const hint = `e.g. path: "${template.replace(/^(\.\.?\/|\/)+/, '')}"`;
    throw new ConfigError(`path "${template}" must be an object key inside the bucket, not start with "/" or "./"`, where, hint);
  }
  if (/^s3:\/\//i.test(template)) {
    const hint = 'put the bucket name in spec.bucket and the key template in spec.path';
    throw new ConfigError(`path "${template}" must be an object key inside the bucket, not a URL`, where, hint);
  }
  // as CloudQuery's s3 destination: a path without {{TABLE}} gets `/{{TABLE}}.<format>`, and `.{{UUID}}` when rotating
  const full = template.includes('{{TABLE}}') ? template : `${template}/{{TABLE}}.${spec.format ?? 'parquet'}${spec.no_rotate ? '' : '.{{UUID}}'}`;
  const settings = objectWriterSettings({ ...spec, path: full }, connector, DEFAULT_S3_PATH);
  for (const [key, notice] of Object.entries(S3_NOTICES)) if (spec[key as keyof S3DestinationSpec]) settings.notices.push(notice);
  return settings;
}

/**
 * `@@plugins.<name>.connection` of an s3 destination: the s3 state backend's URL
 * (connectors/s3/state.ts) in the same bucket, under the key prefix before the path template's
 * first placeholder, with the destination's region, endpoint, path style and static credentials.
 */
export function s3StateConnection(spec: Record<string, unknown>): string | undefined {
  if (typeof spec.bucket !== 'string' || spec.bucket === '') return undefined;
  const template = typeof spec.path === 'string' ? spec.path : DEFAULT_S3_PATH;
  const prefix = (template.includes('{{TABLE}}') ? staticDirectory(template) : template).replace(/^\/+|\/+$/g, '');
  const q = new URLSearchParams();
  q.set('region', typeof spec.region === 'string' ? spec.region : DEFAULT_REGION);
  if (typeof spec.endpoint === 'string') q.set('endpoint', spec.endpoint);
  if (spec.use_path_style === true) q.set('path_style', 'true');
  for (const k of ['access_key_id', 'secret_access_key', 'session_token', 'local_profile'] as const) {
    if (typeof spec[k] === 'string') q.set(k, spec[k] as string);
  }
  return `s3://${spec.bucket}/${prefix.split('/').map(encodeURIComponent).join('/')}?${q}`;
}

function validate(spec: S3DestinationSpec): SpecProblem[] {
  const problems = connectionProblems(spec);
  try {
    s3Settings(spec ?? {}, 's3');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(specProblem(err));
  }
  return problems;
}

/** The object writer over one bucket; `objectsWritten` lists the objects completed so far. */
class S3DestinationClient extends ObjectWriter {
  readonly #objects: S3Objects;

  constructor(settings: ObjectWriterSettings, objects: S3Objects, ctx: ConnectorContext) {
    super(settings, objects, ctx);
    this.#objects = objects;
  }

  get objectsWritten(): WrittenObject[] {
    return this.#objects.written;
  }
}

export const s3Destination = defineDestination<S3DestinationSpec>({
  name: 's3',
  configSchema: s3DestinationSchema,
  capabilities: { writeModes: ['append'], batch: { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 } },
  stateConnection: s3StateConnection,
  /** at config load: bucket name, credential pairs, templates and format/compression pairs */
  validate,
  create(spec, ctx): DestinationClient {
    const problems = connectionProblems(spec);
    if (problems.length) {
      const p = problems[0]!;
      throw new ConfigError(p.message, { connector: ctx.name, keyPath: `spec.${p.keyPath.join('.')}` }, p.hint);
    }
    const settings = s3Settings(spec, ctx.name);
    return new S3DestinationClient(settings, new S3Objects(spec, settings.format, ctx, objectOptions(spec, settings, ctx)), ctx);
  },
});
