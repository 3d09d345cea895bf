/**
 * What flows through every cq-pipe stream (docs/semantics.md): a typed message union.
 * An insert's batch also names its table in schema metadata (`cq:table_name`).
 */
import type * as A from 'apache-arrow';
import { InternalError, type CqPipeError } from './errors.js';

export interface MigrateTableMessage {
  kind: 'migrate-table';
  /** the table: an Arrow schema with cq:table_name and column flags */
  table: A.Schema;
}

export interface InsertMessage {
  kind: 'insert';
  table: string;
  batch: A.RecordBatch;
}

export interface DeleteStaleMessage {
  kind: 'delete-stale';
  table: string;
  sourceName: string;
  syncTime: Date;
}

/**
 * A source-driven delete (CloudQuery's `DeleteRecord`): remove the rows of `table` that match
 * `where` — groups ANDed together, the predicates of a group joined by its `grouping`; no group
 * deletes every row — and, for each of `relations`, the child rows whose `_cq_parent_id` is the
 * `_cq_id` of a deleted parent row (cascading down the chain). Rows inserted before it are applied
 * first (a barrier, like delete-stale).
 */
export interface DeleteRecordMessage {
  kind: 'delete-record';
  table: string;
  where: PredicateGroup[];
  relations: TableRelation[];
}

export interface PredicateGroup {
  grouping: 'and' | 'or';
  predicates: Predicate[];
}

/** `column = value`: `value` is a one-row batch whose only column is the value, typed as in the table */
export interface Predicate {
  operator: 'eq';
  column: string;
  value: A.RecordBatch;
}

export interface TableRelation {
  table: string;
  parent: string;
}

/**
 * Rows of `table` the source read but could not convert to the table's columns (docs/bad-input.md):
 * sent instead of failing the table when `ReadOptions.rejectUnconvertible` is set, after the insert
 * of the good rows around them. A destination with a dead-letter file writes them there (exit 3); a
 * destination without one fails the table with the first row's error, as without the flag.
 */
export interface RejectedRowsMessage {
  kind: 'rejected-rows';
  table: string;
  rows: RejectedRow[];
}

export interface RejectedRow {
  /** the record as the file holds it (the line of NDJSON or CSV; a JSON array element re-serialized) */
  raw: string;
  file: string;
  /** 1-based line (ndjson, csv) */
  line?: number;
  /** 0-based array element (json) */
  element?: number;
  /** the first column whose value does not fit */
  column: string;
  reason: string;
}

export interface CheckpointMessage {
  kind: 'checkpoint';
  id: string;
  /** state keys → values, durable once every row before this message is committed */
  state: Record<string, string>;
  /**
   * The table whose progress this checkpoint saves. A destination that failed that table never
   * acknowledges it; a checkpoint without a table is held back by any failed table.
   */
  table?: string;
}

export interface TableErrorMessage {
  kind: 'table-error';
  table: string;
  error: CqPipeError;
}

export interface SyncEndMessage {
  kind: 'sync-end';
}

export type SyncMessage =
  | MigrateTableMessage
  | InsertMessage
  | DeleteStaleMessage
  | DeleteRecordMessage
  | RejectedRowsMessage
  | CheckpointMessage
  | TableErrorMessage
  | SyncEndMessage;

export type MessageKind = SyncMessage['kind'];
export const MESSAGE_KINDS: readonly MessageKind[] = [
  'migrate-table',
  'insert',
  'delete-stale',
  'delete-record',
  'rejected-rows',
  'checkpoint',
  'table-error',
  'sync-end',
];

/** An exhaustive switch over message kinds reached a kind it does not know: a bug. */
export function assertNever(x: never): never {
  throw new InternalError(`unexpected message: ${JSON.stringify(x)}`);
}

/** Closed vocabularies, defined once (docs/config.md). */
export const WRITE_MODES = ['overwrite-delete-stale', 'overwrite', 'append'] as const;
export type WriteMode = (typeof WRITE_MODES)[number];
export const MIGRATE_MODES = ['safe', 'forced'] as const;
export type MigrateMode = (typeof MIGRATE_MODES)[number];
export const PK_MODES = ['default', 'cq-id-only'] as const;
export type PkMode = (typeof PK_MODES)[number];
