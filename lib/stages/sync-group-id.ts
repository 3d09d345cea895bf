/**
 * A destination's `sync_group_id` (docs/cloudquery.md, "Sync groups and sync summaries"), as the
 * CloudQuery CLI applies it (`cli/internal/transformer/transformer.go`, `WithSyncGroupIdColumn`):
 * every table gets `_cq_sync_group_id` (utf8, not null, a primary-key column) after
 * `_cq_source_name`, holding the rendered id on every row. A table that already has the column
 * keeps it and its values. Write and PK modes apply after it (append strips its key flag, as
 * `cq-id-only` does), as the CLI's own rewrite does.
 */
import * as A from 'apache-arrow';
import type { SyncMessage } from '../messages.js';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME, MD_PRIMARY_KEY, batchFromColumns, tableName } from '../schema.js';
import { constantUtf8Data } from '../arrow/index.js';

export const CQ_SYNC_GROUP_ID = '_cq_sync_group_id';

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * The `sync_group_id` template rendered as the CLI does (`specs.Destination.RenderedSyncGroupId`):
 * `{{YEAR}}` `{{MONTH}}` `{{DAY}}` `{{HOUR}}` `{{MINUTE}}` of the sync time (UTC, zero-padded) and
 * `{{SYNC_ID}}` the invocation id; other text is kept as it is.
 */
export function renderSyncGroupId(template: string, syncTime: Date, syncId: string): string {
  return template
    .replaceAll('{{YEAR}}', String(syncTime.getUTCFullYear()).padStart(4, '0'))
    .replaceAll('{{MONTH}}', pad(syncTime.getUTCMonth() + 1))
    .replaceAll('{{DAY}}', pad(syncTime.getUTCDate()))
    .replaceAll('{{HOUR}}', pad(syncTime.getUTCHours()))
    .replaceAll('{{MINUTE}}', pad(syncTime.getUTCMinutes()))
    .replaceAll('{{SYNC_ID}}', syncId);
}

/** the `_cq_sync_group_id` field as the CLI adds it: utf8, not null, only the primary-key flag */
export function syncGroupIdField(): A.Field {
  return new A.Field(CQ_SYNC_GROUP_ID, new A.Utf8(), false, new Map([[MD_PRIMARY_KEY, 'true']]));
}

/** where the column goes: after `_cq_source_name` (else after `_cq_sync_time`, else first) */
function position(schema: A.Schema): number {
  const names = schema.fields.map((f) => f.name);
  const after = names.indexOf(CQ_SOURCE_NAME) >= 0 ? names.indexOf(CQ_SOURCE_NAME) : names.indexOf(CQ_SYNC_TIME);
  return after + 1;
}

/** `schema` with `_cq_sync_group_id` added (unchanged when it has the column) */
export function withSyncGroupId(schema: A.Schema): A.Schema {
  if (schema.fields.some((f) => f.name === CQ_SYNC_GROUP_ID)) return schema;
  const fields = [...schema.fields];
  fields.splice(position(schema), 0, syncGroupIdField());
  return new A.Schema(fields, schema.metadata);
}

/** Stage: every table and row of one destination gets `_cq_sync_group_id` = `value`. */
export function syncGroupId(value: string) {
  const schemas = new Map<string, { from: A.Schema; to: A.Schema }>();
  const schemaFor = (name: string, from: A.Schema): A.Schema => {
    const hit = schemas.get(name);
    if (hit?.from === from) return hit.to;
    const to = withSyncGroupId(from);
    schemas.set(name, { from, to });
    return to;
  };
  return async function* (source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    for await (const msg of source) {
      if (msg.kind === 'migrate-table') {
        yield { kind: 'migrate-table', table: schemaFor(tableName(msg.table), msg.table) };
      } else if (msg.kind === 'insert') {
        const to = schemaFor(msg.table, msg.batch.schema);
        if (to === msg.batch.schema) {
          yield msg;
          continue;
        }
        const cols = [...msg.batch.data.children];
        cols.splice(position(msg.batch.schema), 0, constantUtf8Data(value, msg.batch.numRows));
        yield { kind: 'insert', table: msg.table, batch: batchFromColumns(to, msg.batch.numRows, cols) };
      } else {
        yield msg;
      }
    }
  };
}
