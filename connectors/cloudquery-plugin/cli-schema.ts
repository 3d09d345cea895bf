/**
 * The schemas a CloudQuery plugin destination receives, in the form the CloudQuery CLI gives them
 * (docs/plugins.md; the CLI's `cli/internal/transformer/transformer.go`). cq-pipe's engine stages
 * (lib/stages/internal-columns.ts, lib/stages/write-mode.ts) already did the work — reserved
 * columns first, PK and unique flags per write and PK mode — but in cq-pipe's spelling, which the
 * built-in destinations keep. Where the spelling differs, a plugin gets the CLI's:
 *   - `_cq_sync_time` and `_cq_source_name`, which the CLI adds with no field metadata, carry none
 *     (cq-pipe adds them with `"false"` flags);
 *   - `write_mode: append` removes the `cq:extension:primary_key` and `cq:extension:unique` keys
 *     from every field (cq-pipe sets them to `"false"`);
 *   - otherwise `pk_mode: cq-id-only` removes every `cq:extension:primary_key` key and sets it on
 *     `_cq_id` alone (cq-pipe sets the others to `"false"`).
 * A Go plugin reads an absent flag as false, so the meaning is the same; the bytes are the CLI's.
 */
import * as A from 'apache-arrow';
import type { DestinationCapabilities } from '../../lib/connector.js';
import { type PkMode, WRITE_MODES, type WriteMode } from '../../lib/messages.js';
import { CQ_ID, CQ_SOURCE_NAME, CQ_SYNC_TIME, MD_INCREMENTAL, MD_PRIMARY_KEY, MD_UNIQUE, relabel, tableName } from '../../lib/schema.js';

export interface CliModes {
  writeMode: WriteMode;
  pkMode: PkMode;
}

/** the flags cq-pipe writes on the reserved columns it adds */
const ENGINE_FLAGS = new Set([MD_PRIMARY_KEY, MD_UNIQUE, MD_INCREMENTAL]);

/** metadata made only of `"false"` engine flags: what the engine put on a reserved column it added */
function onlyFalseFlags(md: Map<string, string>): boolean {
  for (const [k, v] of md) if (!ENGINE_FLAGS.has(k) || v !== 'false') return false;
  return true;
}

function cliField(f: A.Field, modes: CliModes): A.Field {
  let md = new Map(f.metadata);
  if ((f.name === CQ_SYNC_TIME || f.name === CQ_SOURCE_NAME) && onlyFalseFlags(md)) md = new Map();
  if (modes.writeMode === 'append') {
    md.delete(MD_PRIMARY_KEY);
    md.delete(MD_UNIQUE);
  } else if (modes.pkMode === 'cq-id-only') {
    md.delete(MD_PRIMARY_KEY);
    if (f.name === CQ_ID) md.set(MD_PRIMARY_KEY, 'true');
  }
  return new A.Field(f.name, f.type, f.nullable, md);
}

/** A table schema as the CloudQuery CLI would send it to a destination plugin with these modes. */
export function cliSchema(schema: A.Schema, modes: CliModes): A.Schema {
  return new A.Schema(
    schema.fields.map((f) => cliField(f, modes)),
    schema.metadata,
  );
}

/**
 * The CLI form of each table, computed once per table schema: the schema for `migrate_table`, and
 * batches relabelled with it (zero-copy) for `insert`, so both carry the same field metadata.
 */
export class CliSchemas {
  readonly #cache = new Map<string, { from: A.Schema; to: A.Schema }>();

  constructor(private readonly modes: CliModes) {}

  schema(table: A.Schema): A.Schema {
    const name = tableName(table);
    const hit = this.#cache.get(name);
    if (hit?.from === table) return hit.to;
    const to = cliSchema(table, this.modes);
    this.#cache.set(name, { from: table, to });
    return to;
  }

  batch(table: A.Schema, batch: A.RecordBatch): A.RecordBatch {
    return relabel(batch, this.schema(table));
  }
}

/** the CLI's modes for a destination plugin, defaulted as the CLI defaults them (overwrite-delete-stale, default) */
export function cliModes(modes: Partial<CliModes> = {}): CliModes {
  return { writeMode: modes.writeMode ?? 'overwrite-delete-stale', pkMode: modes.pkMode ?? 'default' };
}

/**
 * Batching before the plugin, which batches again itself: the Go SDK batch writer's 10,000 rows,
 * and 4 MiB so that one `insert` fits the default 4 MiB receive limit of JavaScript SDK plugins.
 */
export const PLUGIN_DESTINATION_CAPABILITIES: DestinationCapabilities = {
  writeModes: WRITE_MODES,
  batch: { rows: 10_000, bytes: 4 * 1024 * 1024, timeoutMs: 10_000 },
};
