/**
 * Run statistics: per-table rows, errors and durations, peak RSS; the summary line and the
 * `--summary-location` JSON records (CloudQuery's sync summary field names; docs/observability.md).
 */
import type { LogCounts } from './connector.js';
import type { SyncMessage } from './messages.js';
import type { CqPipeError } from './errors.js';

export interface TableStats {
  rows: number;
  errors: number;
  startedAt: number;
  endedAt: number;
}

export class SyncStats {
  readonly tables = new Map<string, TableStats>();
  /** table errors of the source (they stop delete-stale for the whole source) */
  readonly errors: CqPipeError[] = [];
  /** tables a destination failed (only that table, in that destination, stopped) */
  readonly destinationErrors: { destination: string; table: string; error: CqPipeError }[] = [];
  resources = 0;
  /** warn lines of the source's plugin process (SourceClient.logCounts) */
  warnings = 0;
  /** error lines of the source's plugin process */
  logErrors = 0;
  readonly startedAt = Date.now();

  table(name: string): TableStats {
    let t = this.tables.get(name);
    if (!t) {
      const now = Date.now();
      t = { rows: 0, errors: 0, startedAt: now, endedAt: now };
      this.tables.set(name, t);
    }
    return t;
  }

  /** count one source message */
  record(msg: SyncMessage): void {
    if (msg.kind === 'insert') {
      const t = this.table(msg.table);
      t.rows += msg.batch.numRows;
      t.endedAt = Date.now();
      this.resources += msg.batch.numRows;
    } else if (msg.kind === 'table-error') {
      const t = this.table(msg.table);
      t.errors++;
      t.endedAt = Date.now();
      this.errors.push(msg.error);
    } else if (msg.kind === 'migrate-table') {
      // tables appear in progress from the start
    }
  }

  /** a table failed in a destination */
  recordDestinationError(destination: string, table: string, error: CqPipeError): void {
    const t = this.table(table);
    t.errors++;
    t.endedAt = Date.now();
    this.destinationErrors.push({ destination, table, error });
  }

  destinationErrorCount(destination: string): number {
    return this.destinationErrors.filter((e) => e.destination === destination).length;
  }

  /** source table errors (destination table errors are in destinationErrors) */
  get errorCount(): number {
    return this.errors.length;
  }

  /** add a plugin process's log counts (after the source closed) */
  addLogCounts(counts: LogCounts | undefined): void {
    this.warnings += counts?.warnings ?? 0;
    this.logErrors += counts?.errors ?? 0;
  }

  /** the source's errors as the CloudQuery CLI reports them: its table errors, or its error log lines when there are more */
  get sourceErrors(): number {
    return Math.max(this.errorCount, this.logErrors);
  }
}

export interface SyncSummary {
  cli_version: string;
  sync_id: string;
  sync_time: string;
  sync_duration_ms: number;
  resources: number;
  source_name: string;
  source_path: string;
  source_errors: number;
  source_warnings: number;
  source_tables: string[];
  destination_name: string;
  destination_path: string;
  destination_errors: number;
  destination_warnings: number;
  shard_num?: number;
  shard_total?: number;
  resources_per_table: Record<string, number>;
  errors_per_table: Record<string, number>;
  durations_per_table_ms: Record<string, number>;
  rows_written: number;
  peak_rss_bytes: number;
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export function perTable(stats: SyncStats): Pick<SyncSummary, 'resources_per_table' | 'errors_per_table' | 'durations_per_table_ms'> {
  const resources: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const durations: Record<string, number> = {};
  for (const [name, t] of stats.tables) {
    resources[name] = t.rows;
    errors[name] = t.errors;
    durations[name] = t.endedAt - t.startedAt;
  }
  return { resources_per_table: resources, errors_per_table: errors, durations_per_table_ms: durations };
}

/** `Sync completed successfully. Resources: N, Errors: N, Warnings: N, Time: 3.2s` */
export function summaryLine(resources: number, errors: number, warnings: number, ms: number): string {
  const head = errors > 0 ? 'Sync completed with errors, see logs for details.' : 'Sync completed successfully.';
  return `${head} Resources: ${resources}, Errors: ${errors}, Warnings: ${warnings}, Time: ${(ms / 1000).toFixed(1)}s`;
}
