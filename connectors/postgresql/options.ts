/**
 * The keys of CloudQuery's postgresql destination spec (`plugins/destination/postgresql/client/spec`
 * in cloudquery/cloudquery) beyond `connection_string` and the engine's batch keys, see
 * docs/postgresql.md, "CloudQuery's keys": `create_performance_indexes` is honoured;
 * `pgx_log_level` and `retry_on_deadlock` mean nothing here and are accepted with one notice;
 * `lakebase`, `aws_iam_auth` and `pgvector_config` need what cq-pipe does not do (cloud credential
 * exchange, embeddings) and are a config error rather than silently ignored.
 */
import type { SpecProblem } from '../../lib/connector.js';

/** pgx's log levels, as CloudQuery's schema lists them */
export const PGX_LOG_LEVELS = ['', 'none', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export interface CloudQueryPostgresOptions {
  pgx_log_level?: (typeof PGX_LOG_LEVELS)[number];
  create_performance_indexes?: boolean;
  retry_on_deadlock?: number;
  lakebase?: Record<string, unknown>;
  aws_iam_auth?: Record<string, unknown>;
  pgvector_config?: Record<string, unknown>;
}

export const POSTGRES_OPTION_PROPERTIES = {
  pgx_log_level: { type: 'string', enum: PGX_LOG_LEVELS },
  create_performance_indexes: { type: 'boolean' },
  retry_on_deadlock: { type: 'integer', minimum: 0 },
  lakebase: { type: 'object' },
  aws_iam_auth: { type: 'object' },
  pgvector_config: { type: 'object' },
} as const;

/** one notice per key that is accepted and has no effect in cq-pipe */
export function optionNotices(spec: CloudQueryPostgresOptions): string[] {
  const out: string[] = [];
  if (spec.pgx_log_level) {
    out.push('pgx_log_level is accepted and not applied: cq-pipe does not use pgx; --log-level debug logs its Postgres retries and failures');
  }
  if (spec.retry_on_deadlock !== undefined) {
    out.push('retry_on_deadlock is accepted and not applied: cq-pipe retries deadlocks itself, 8 times with backoff, replaying the transaction');
  }
  return out;
}

const UNSUPPORTED: Record<string, string> = {
  lakebase: 'generate a Lakebase database credential (databricks CLI) and put it in the connection string as the password',
  aws_iam_auth: 'generate a token with `aws rds generate-db-auth-token` and put it in the connection string as the password',
  pgvector_config: 'cq-pipe creates no embeddings; sync the tables and compute embeddings in the database',
};

/** keys cq-pipe cannot honour and must not ignore */
export function optionProblems(spec: CloudQueryPostgresOptions): SpecProblem[] {
  const out: SpecProblem[] = [];
  for (const [key, hint] of Object.entries(UNSUPPORTED)) {
    if (spec[key as keyof CloudQueryPostgresOptions] !== undefined) out.push({ keyPath: [key], message: `${key} is not supported by cq-pipe`, hint });
  }
  return out;
}
