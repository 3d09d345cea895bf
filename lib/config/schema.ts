/**
 * JSON schemas (ajv, draft-07) of the engine's part of a config document (docs/config.md). A connector's
 * inner `spec` is checked separately against the connector's own schema.
 * CloudQuery's keys are accepted (`registry` and `version` checked, the rest ignored), so CloudQuery
 * configs load unchanged; any other unknown key is an error.
 */
import { MIGRATE_MODES, PK_MODES, WRITE_MODES } from '../messages.js';

export const KINDS = ['source', 'destination', 'transformer'] as const;
export type Kind = (typeof KINDS)[number];

const NAME = { type: 'string', minLength: 1, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' } as const;
/** CloudQuery's `otel_endpoint` (`host:port`, "" = none) and `otel_endpoint_insecure` (docs/observability.md) */
const OTEL = { otel_endpoint: { type: 'string' }, otel_endpoint_insecure: { type: 'boolean' } } as const;
const STRINGS = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

/**
 * CloudQuery's plugin coordinates: `registry` takes CloudQuery's values, `version` looks like
 * CloudQuery's (`v` and a version: its JSON schema's `^v.*$`, e.g. v8.6.0 or v1). With `path: cloudquery/<name>` they name a built-in (docs/plugins.md).
 */
const CQ_COMPAT = {
  registry: { type: 'string', enum: ['cloudquery', 'github', 'local', 'grpc', 'docker'] },
  version: { type: 'string', pattern: '^v[0-9A-Za-z.+-]+$' },
  // for private docker images; cq-pipe's `docker` uses the user's own `docker login`
  docker_registry_auth_token: { type: 'string' },
} as const;

export const documentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'spec'],
  properties: {
    kind: { type: 'string', enum: [...KINDS] },
    spec: { type: 'object' },
  },
} as const;

export const sourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'path'],
  properties: {
    ...CQ_COMPAT,
    name: NAME,
    path: { type: 'string', minLength: 1 },
    tables: { ...STRINGS, default: ['*'] },
    skip_tables: { ...STRINGS, default: [] },
    skip_dependent_tables: { type: 'boolean' },
    destinations: { ...STRINGS, default: [] },
    deterministic_cq_id: { type: 'boolean', default: false },
    ...OTEL,
    concurrency: { type: 'integer', minimum: 1 },
    backend_options: {
      type: 'object',
      additionalProperties: false,
      required: ['table_name', 'connection'],
      properties: {
        table_name: { type: 'string', minLength: 1 },
        connection: { type: 'string', minLength: 1 },
      },
    },
    // `spec:` with nothing under it (YAML null) is an empty spec, as in CloudQuery
    spec: { type: ['object', 'null'], default: {} },
  },
} as const;

export const destinationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'path'],
  properties: {
    ...CQ_COMPAT,
    name: NAME,
    path: { type: 'string', minLength: 1 },
    write_mode: { type: 'string', enum: [...WRITE_MODES] },
    migrate_mode: { type: 'string', enum: [...MIGRATE_MODES], default: 'safe' },
    pk_mode: { type: 'string', enum: [...PK_MODES], default: 'default' },
    transformers: { ...STRINGS, default: [] },
    send_sync_summary: { type: 'boolean' },
    sync_group_id: { type: 'string' },
    ...OTEL,
    // `spec:` with nothing under it (YAML null) is an empty spec, as in CloudQuery
    spec: { type: ['object', 'null'], default: {} },
  },
} as const;

export const transformerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'path'],
  properties: {
    ...CQ_COMPAT,
    name: NAME,
    path: { type: 'string', minLength: 1 },
    // `spec:` with nothing under it (YAML null) is an empty spec, as in CloudQuery
    spec: { type: ['object', 'null'], default: {} },
  },
} as const;

export const KIND_SCHEMAS: Record<Kind, object> = {
  source: sourceSchema,
  destination: destinationSchema,
  transformer: transformerSchema,
};

/** keys that hold secrets: values interpolated into them are redacted from logs */
export const SECRET_KEY = /pass(word)?|secret|token|credential|connection|dsn|_key$|^key$|auth/i;
