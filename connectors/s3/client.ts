/**
 * What the `s3` source and destination share: the connection keys of their specs, the S3 client
 * they build from them, and how S3 failures become typed errors.
 *
 *   bucket: lake                       # required
 *   region: us-east-1                  # default
 *   endpoint: http://127.0.0.1:9000    # any S3-compatible service (MinIO, R2, Ceph, s3rver, …)
 *   use_path_style: true               # http://host/bucket/key instead of http://bucket.host/key
 *   access_key_id / secret_access_key / session_token   # optional: else the AWS credential chain
 *   max_attempts: 5                    # tries per request (throttling, 5xx, network errors)
 */
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, HeadBucketCommand, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { SpecProblem } from '../../lib/connector.js';
import { CqPipeError, type ErrorContext } from '../../lib/errors.js';

export interface S3ConnectionSpec {
  bucket: string;
  region?: string;
  endpoint?: string;
  use_path_style?: boolean;
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  max_attempts?: number;
  /** CloudQuery's: an AWS shared-config profile (also `credentials.local_profile`) */
  local_profile?: string;
  credentials?: { local_profile?: string; role_arn?: string; role_session_name?: string; external_id?: string };
  /** CloudQuery's: retries per request (max_attempts = max_retries + 1) */
  max_retries?: number;
  /** CloudQuery's: do not verify the endpoint's TLS certificate */
  endpoint_skip_tls_verify?: boolean;
}

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_MAX_ATTEMPTS = 5;

/** JSON-schema properties of the connection keys (merged into each connector's schema). */
export const S3_CONNECTION_PROPERTIES = {
  bucket: { type: 'string', minLength: 3, maxLength: 63 },
  region: { type: 'string', minLength: 1, default: DEFAULT_REGION },
  endpoint: { type: 'string', pattern: '^https?://' },
  use_path_style: { type: 'boolean', default: false },
  access_key_id: { type: 'string', minLength: 1 },
  secret_access_key: { type: 'string', minLength: 1 },
  session_token: { type: 'string', minLength: 1 },
  // no schema default: max_retries (CloudQuery's) stands in when max_attempts is not given
  max_attempts: { type: 'integer', minimum: 1, maximum: 20 },
  // CloudQuery's keys (its s3 plugins' spec/schema.json)
  local_profile: { type: 'string', minLength: 1 },
  credentials: {
    type: 'object',
    additionalProperties: false,
    properties: {
      local_profile: { type: 'string' },
      role_arn: { type: 'string' },
      role_session_name: { type: 'string' },
      external_id: { type: 'string' },
    },
  },
  max_retries: { type: 'integer', minimum: 0, maximum: 19 },
  endpoint_skip_tls_verify: { type: 'boolean', default: false },
} as const;

/** Checks beyond the JSON schema (keyPath relative to the connector spec). */
export function connectionProblems(spec: S3ConnectionSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (typeof spec.bucket === 'string') {
    if (spec.bucket.startsWith('s3://') || spec.bucket.includes('/')) {
      problems.push({
        keyPath: ['bucket'],
        message: `bucket "${spec.bucket}" must be a bucket name, not a URL or path`,
        hint: 'put the key prefix in path (destination) or files (source)',
      });
    } else if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(spec.bucket)) {
      problems.push({
        keyPath: ['bucket'],
        message: `"${spec.bucket}" is not a valid bucket name`,
        hint: 'bucket names are 3 to 63 lowercase letters, digits, dots and hyphens',
      });
    }
  }
  if ((spec.access_key_id === undefined) !== (spec.secret_access_key === undefined)) {
    const missing = spec.access_key_id === undefined ? 'access_key_id' : 'secret_access_key';
    problems.push({ keyPath: [missing], message: `${missing} is missing: give both access_key_id and secret_access_key, or neither (AWS credential chain)` });
  }
  if (spec.session_token !== undefined && spec.access_key_id === undefined) {
    problems.push({ keyPath: ['session_token'], message: 'session_token needs access_key_id and secret_access_key' });
  }
  if (spec.credentials?.role_arn) {
    problems.push({
      keyPath: ['credentials', 'role_arn'],
      message: 'cq-pipe does not assume roles itself',
      hint: 'put role_arn (and source_profile) in a profile of ~/.aws/config and name it in local_profile: the AWS SDK assumes it',
    });
  }
  if (spec.max_retries !== undefined && spec.max_attempts !== undefined) {
    problems.push({ keyPath: ['max_retries'], message: 'give max_retries (CloudQuery) or max_attempts, not both' });
  }
  return problems;
}

/** The S3 client of a spec. Static keys when given, else the SDK's default credential chain. */
export function createS3Client(spec: S3ConnectionSpec): S3Client {
  const config: S3ClientConfig = {
    region: spec.region ?? DEFAULT_REGION,
    forcePathStyle: spec.use_path_style ?? false,
    // the SDK's standard retry strategy: exponential backoff with jitter on throttling, 5xx and
    // network errors; request bodies are buffers (multipart parts), so every attempt can resend
    maxAttempts: spec.max_attempts ?? (spec.max_retries !== undefined ? spec.max_retries + 1 : DEFAULT_MAX_ATTEMPTS),
    requestHandler: {
      connectionTimeout: 10_000,
      ...(spec.endpoint_skip_tls_verify ? { httpsAgent: new HttpsAgent({ keepAlive: true, rejectUnauthorized: false }) } : {}),
    },
  };
  const profile = spec.local_profile ?? spec.credentials?.local_profile;
  if (profile) config.profile = profile;
  if (spec.endpoint) {
    config.endpoint = spec.endpoint;
    // S3-compatible services differ in their support of the newer flexible checksums
    // (x-amz-checksum-*, aws-chunked bodies); send and check them only where S3 requires them
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (spec.access_key_id && spec.secret_access_key) {
    config.credentials = {
      accessKeyId: spec.access_key_id,
      secretAccessKey: spec.secret_access_key,
      ...(spec.session_token ? { sessionToken: spec.session_token } : {}),
    };
  }
  return new S3Client(config);
}

/** Where a spec points, for messages: `s3://bucket` plus the endpoint when not AWS. */
export function describeBucket(spec: S3ConnectionSpec): string {
  return `s3://${spec.bucket}${spec.endpoint ? ` at ${spec.endpoint}` : ''}`;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

/** HTTP status of an SDK error, if it got an answer. */
export function s3Status(err: unknown): number | undefined {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

/** A one-line reason for an S3 failure (the SDK leaves messages of body-less answers empty). */
export function s3Reason(err: unknown): string {
  // cq-pipe's own errors (an upload discarded, an encoder failure) are sentences already
  if (err instanceof CqPipeError) return err.message;
  const e = err as SdkError;
  const status = s3Status(err);
  const name = e?.name ?? e?.code ?? 'Error';
  const msg = e?.message && e.message !== 'UnknownError' && e.message !== name ? `: ${e.message}` : '';
  return `${name}${status !== undefined ? ` (HTTP ${status})` : ''}${msg}`;
}

/**
 * HeadBucket: an early, clear error when the bucket is missing, access is denied or the endpoint
 * cannot be reached. `make` builds the typed error (destination or source flavour).
 */
export async function checkBucket(
  client: S3Client,
  spec: S3ConnectionSpec,
  context: ErrorContext,
  make: (message: string, context: ErrorContext, cause: unknown) => CqPipeError,
): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: spec.bucket }));
  } catch (err) {
    const status = s3Status(err);
    const where = describeBucket(spec);
    const ctx = { ...context, phase: 'connect' };
    if (status === 404 || (err as SdkError).name === 'NoSuchBucket' || (err as SdkError).name === 'NotFound') {
      throw make(`bucket ${where} does not exist (HeadBucket: ${s3Reason(err)}); create it or fix spec.bucket / spec.region`, ctx, err);
    }
    if (status === 403 || status === 401) {
      throw make(
        `access to bucket ${where} is denied (HeadBucket: ${s3Reason(err)}); check the credentials (access_key_id / secret_access_key or the AWS ` +
          `credential chain) and that they allow s3:ListBucket on it`,
        ctx,
        err,
      );
    }
    if (status === 301 || status === 400) {
      throw make(
        `bucket ${where} answered HeadBucket with ${s3Reason(err)}; the bucket may be in another region than ${spec.region ?? DEFAULT_REGION} (set ` +
          `spec.region)`,
        ctx,
        err,
      );
    }
    throw make(`cannot reach bucket ${where}: ${s3Reason(err)}`, ctx, err);
  }
}
