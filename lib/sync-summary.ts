/**
 * CloudQuery's sync summary table (docs/cloudquery.md, "Sync groups and sync summaries"): with
 * `send_sync_summary: true` a destination gets one row in `cloudquery_sync_summaries` per sync of a
 * source, after delete-stale and before the destination is closed (`cli/cmd/summary.go` and
 * `sync_v3.go` in cloudquery/cloudquery). Its columns are CloudQuery's — the summary struct through
 * the SDK's struct transformer (unsigned and `int` fields as int64, maps as json, `[]string` as
 * list<utf8>, every column nullable, no `_cq_id`), with `sync_time` and `sync_group_id` carried by
 * the reserved columns the CLI adds: `_cq_sync_time`, `_cq_source_name` (the sharded name) and,
 * with a `sync_group_id`, `_cq_sync_group_id` (the table's only key). Write and PK modes apply as
 * to every table; the destination's transformers do not (the CLI sends the summary around them).
 */
import * as A from 'apache-arrow';
import type { PkMode, SyncMessage, WriteMode } from './messages.js';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME, MD_INCREMENTAL, MD_PRIMARY_KEY, MD_TABLE_NAME, MD_UNIQUE } from './schema.js';
import { fieldFor, parseColumnType } from './types.js';
import { RowBatchBuilder } from './row-builder.js';
import { rewriteSchema } from './stages/write-mode.js';
import { CQ_SYNC_GROUP_ID, syncGroupIdField } from './stages/sync-group-id.js';
import type { SyncSummary } from './stats.js';

export const SUMMARY_TABLE = 'cloudquery_sync_summaries';

/** CloudQuery's columns, in its order (the `syncSummary` struct's fields) */
export const SUMMARY_COLUMNS: readonly (readonly [keyof SyncSummary, string])[] = [
  ['cli_version', 'utf8'],
  ['destination_errors', 'int64'],
  ['destination_name', 'utf8'],
  ['destination_path', 'utf8'],
  ['destination_version', 'utf8'],
  ['destination_warnings', 'int64'],
  ['resources', 'int64'],
  ['source_errors', 'int64'],
  ['source_name', 'utf8'],
  ['source_path', 'utf8'],
  ['source_version', 'utf8'],
  ['source_warnings', 'int64'],
  ['source_tables', 'list<utf8>'],
  ['sync_id', 'utf8'],
  ['sync_duration_ms', 'int64'],
  ['shard_num', 'int64'],
  ['shard_total', 'int64'],
  ['resources_per_table', 'json'],
  ['errors_per_table', 'json'],
  ['durations_per_table_ms', 'json'],
];

const noFlags = () =>
  new Map([
    [MD_PRIMARY_KEY, 'false'],
    [MD_UNIQUE, 'false'],
    [MD_INCREMENTAL, 'false'],
  ]);

/** The summary table as the destination receives it, before write and PK modes. */
export function summaryTable(withSyncGroupId: boolean): A.Schema {
  const fields = [
    fieldFor(CQ_SYNC_TIME, parseColumnType('timestamp'), true, noFlags()),
    fieldFor(CQ_SOURCE_NAME, parseColumnType('utf8'), true, noFlags()),
    ...(withSyncGroupId ? [syncGroupIdField()] : []),
    ...SUMMARY_COLUMNS.map(([name, type]) => fieldFor(name, parseColumnType(type), true, noFlags())),
  ];
  return new A.Schema(fields, new Map([[MD_TABLE_NAME, SUMMARY_TABLE]]));
}

export interface SummaryMessageOptions {
  /** `_cq_source_name`: the source name as the rows carry it (with the shard suffix) */
  sourceName: string;
  syncTime: Date;
  writeMode: WriteMode;
  pkMode: PkMode;
  /** false with `--no-migrate`: only the insert is sent, as the CLI does */
  migrate: boolean;
}

/** The messages that write one summary row: the table's migrate-table (unless not migrating), then the insert. */
export function summaryMessages(summary: SyncSummary, opts: SummaryMessageOptions): SyncMessage[] {
  const schema = rewriteSchema(summaryTable(summary.sync_group_id !== undefined), opts);
  const row: Record<string, unknown> = { [CQ_SYNC_TIME]: opts.syncTime.toISOString(), [CQ_SOURCE_NAME]: opts.sourceName };
  if (summary.sync_group_id !== undefined) row[CQ_SYNC_GROUP_ID] = summary.sync_group_id;
  for (const [name] of SUMMARY_COLUMNS) row[name] = summary[name] ?? null;
  const builder = new RowBatchBuilder(schema);
  builder.push(row);
  const insert: SyncMessage = { kind: 'insert', table: SUMMARY_TABLE, batch: builder.finish() };
  return opts.migrate ? [{ kind: 'migrate-table', table: schema }, insert] : [insert];
}
