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
  /** the log counts of each destination's plugin process, read when a summary is built (DestinationClient.logCounts) */
  readonly destinationLogs = new Map<string, () => LogCounts | undefined>();
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

  /** a destination's errors as the CloudQuery CLI reports them: its table errors, or its plugin's error log lines when there are more */
  destinationErrorsOf(destination: string): number {
    return Math.max(this.destinationErrorCount(destination), this.destinationLogs.get(destination)?.()?.errors ?? 0);
  }

  /** warn lines of a destination's plugin process */
  destinationWarningsOf(destination: string): number {
    return this.destinationLogs.get(destination)?.()?.warnings ?? 0;
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
  /** the source's `version` in the config ("" when it has none, as CloudQuery) */
  source_version: string;
  source_errors: number;
  source_warnings: number;
  source_tables: string[];
  destination_name: string;
  destination_path: string;
  destination_version: string;
  destination_errors: number;
  destination_warnings: number;
  /** the rendered `sync_group_id` of the destination, when it has one */
  sync_group_id?: string;
  shard_num?: number;
  shard_total?: number;
  resources_per_table: Record<string, number>;
  errors_per_table: Record<string, number>;
  durations_per_table_ms: Record<string, number>;
  rows_written: number;
  peak_rss_bytes: number;
}

/** What one destination's summary of one source's sync is made of. */
export interface SummaryInput {
  stats: SyncStats;
  cliVersion: string;
  syncId: string;
  syncTime: Date;
  source: { name: string; path: string; version?: string };
  destination: { name: string; path: string; version?: string };
  syncGroupId?: string;
  shard?: { num: number; total: number };
  /** the sync failed with a fatal error (counted once in source and destination errors) */
  fatal?: boolean;
}

/**
 * One destination's summary (CloudQuery's `syncSummary`, cli/cmd/summary.go): `source_name` is the
 * unsuffixed name even when sharded, `source_tables` sorted, durations from the sync start.
 */
export function buildSummary(i: SummaryInput): SyncSummary {
  const { stats } = i;
  const fatal = i.fatal ? 1 : 0;
  return {
    cli_version: i.cliVersion,
    sync_id: i.syncId,
    sync_time: i.syncTime.toISOString(),
    sync_duration_ms: Date.now() - stats.startedAt,
    resources: stats.resources,
    source_name: i.source.name,
    source_path: i.source.path,
    source_version: i.source.version ?? '',
    source_errors: stats.sourceErrors + fatal,
    source_warnings: stats.warnings,
    source_tables: [...stats.tables.keys()].sort(),
    destination_name: i.destination.name,
    destination_path: i.destination.path,
    destination_version: i.destination.version ?? '',
    destination_errors: stats.destinationErrorsOf(i.destination.name) + fatal,
    destination_warnings: stats.destinationWarningsOf(i.destination.name),
    ...(i.syncGroupId !== undefined ? { sync_group_id: i.syncGroupId } : {}),
    ...(i.shard ? { shard_num: i.shard.num, shard_total: i.shard.total } : {}),
    ...perTable(stats),
    rows_written: stats.resources,
    peak_rss_bytes: peakRssBytes(),
  };
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
