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
import { S3_CONNECTION_PROPERTIES, connectionProblems, type S3ConnectionSpec } from './client.js';
import { S3Objects, type WrittenObject } from './sink.js';

export type { WrittenObject };

export const DEFAULT_S3_PATH = '{{TABLE}}/{{UUID}}.{{FORMAT}}';

export interface S3DestinationSpec extends S3ConnectionSpec, Omit<FileDestinationSpec, 'path'> {
  path?: string;
}

export const s3DestinationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['bucket'],
  properties: {
    ...S3_CONNECTION_PROPERTIES,
    path: { type: 'string', minLength: 1, default: DEFAULT_S3_PATH },
    ...OBJECT_WRITER_PROPERTIES,
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
  return objectWriterSettings({ ...spec, path: template }, connector, DEFAULT_S3_PATH);
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
  /** at config load: bucket name, credential pairs, templates and format/compression pairs */
  validate,
  create(spec, ctx): DestinationClient {
    const problems = connectionProblems(spec);
    if (problems.length) {
      const p = problems[0]!;
      throw new ConfigError(p.message, { connector: ctx.name, keyPath: `spec.${p.keyPath.join('.')}` }, p.hint);
    }
    const settings = s3Settings(spec, ctx.name);
    return new S3DestinationClient(settings, new S3Objects(spec, settings.format, ctx), ctx);
  },
});
