/**
 * The validated, frozen config the engine runs on (docs/config.md). Produced only by lib/config/load.ts.
 */
import type { MigrateMode, PkMode, WriteMode } from '../messages.js';
import type { Registry } from '../registry.js';
import type { BatchCaps } from './engine-keys.js';

/** where a plugin document came from, for error messages */
export interface Origin {
  file: string;
  /** 1-based index of the YAML document in its file */
  document: number;
  /** directory relative connector paths resolve against */
  baseDir: string;
}

export interface BackendOptions {
  table_name: string;
  connection: string;
}

export interface SourceSpec {
  name: string;
  path: string;
  /** CloudQuery's `registry` and `version`, when the config names them */
  registry?: string;
  version?: string;
  tables: string[];
  skip_tables: string[];
  destinations: string[];
  deterministic_cq_id: boolean;
  backend_options?: BackendOptions;
  /** OTLP/HTTP endpoint (`host:port`) the sync's traces and metrics go to (lib/otel-export.ts) */
  otel_endpoint?: string;
  /** `http://` instead of `https://` for `otel_endpoint` */
  otel_endpoint_insecure?: boolean;
  /** connector-specific spec, validated against the connector's configSchema */
  spec: Record<string, unknown>;
  origin: Origin;
}

export interface DestinationSpec {
  name: string;
  path: string;
  registry?: string;
  version?: string;
  write_mode: WriteMode;
  migrate_mode: MigrateMode;
  pk_mode: PkMode;
  /** CloudQuery's `sync_group_id`: a template (`{{YEAR}}`…`{{SYNC_ID}}`) of `_cq_sync_group_id` (docs/cloudquery.md) */
  sync_group_id?: string;
  /** CloudQuery's `send_sync_summary`: write `cloudquery_sync_summaries` after each sync (docs/cloudquery.md) */
  send_sync_summary?: boolean;
  transformers: string[];
  /** as on sources (a cq-pipe addition: CloudQuery has these keys on sources only) */
  otel_endpoint?: string;
  otel_endpoint_insecure?: boolean;
  /** the connector's own spec: the engine's keys (batch_*) are taken out into `batch` */
  spec: Record<string, unknown>;
  /** batch caps the user set (batch_size, batch_size_bytes, batch_timeout); the connector's defaults fill the rest */
  batch: Partial<BatchCaps>;
  origin: Origin;
}

export interface TransformerSpec {
  name: string;
  path: string;
  spec: Record<string, unknown>;
  origin: Origin;
}

export interface LoadedConfig {
  sources: SourceSpec[];
  destinations: DestinationSpec[];
  transformers: TransformerSpec[];
  /** values that must be redacted from every log line (interpolated env vars, passwords) */
  secrets: string[];
  /** the registry the config was loaded against (set by loadConfig; kept when the config is spread) */
  readonly registry?: Registry;
}
