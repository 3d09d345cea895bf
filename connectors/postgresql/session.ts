/**
 * The connection of the `postgresql` destination (see docs/postgresql.md, "Transient faults"): it
 * connects (`application_name` cq-pipe, session time zone UTC), holds the open transaction and the
 * batches written in it until it commits, and on a transient error (connection lost, server
 * restarting, deadlock) reconnects with bounded exponential backoff and jitter and replays exactly
 * those batches — committed rows are never written twice, and none are skipped. After a rollback
 * that fails one table, the other tables' uncommitted batches are replayed the same way. What is
 * replayed is the COPY bytes sent, kept in a temporary file (`replay-log.ts`), not the batches:
 * memory does not grow with the transaction.
 */
import type * as A from 'apache-arrow';
import pg from 'pg';
import { DestinationWriteError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { batchByteSize } from '../../lib/schema.js';
import { LoggedChunks, ReplayLog } from './replay-log.js';
import { isTransient } from './transient.js';
import { DEFAULT_ATTEMPTS, retry } from '../../lib/retry.js';

/** rows / in-memory Arrow bytes per transaction of a streaming load before it is committed (what a reconnect replays) */
export const LOAD_ROWS = 100_000;
export const LOAD_BYTES = 64 * 1024 * 1024;

export interface SessionOptions<T> {
  connectionString: string;
  /** the destination's name in the config, for errors */
  connector: string;
  logger: Logger;
  /** forget what belongs to the connection about to be dropped for a reconnect (an open COPY) */
  onReconnect(): void;
  /** send one table's uncommitted COPY tuples (`rows` rows) again, into the session's (new) transaction */
  replay(table: T, chunks: AsyncIterable<Buffer>, rows: number): Promise<void>;
}

/** One connection to Postgres and its open transaction; `T` identifies a table. */
export class PgSession<T> {
  readonly #opts: SessionOptions<T>;
  #client?: pg.Client;
  #inTx = false;
  /** the batches of the open transaction, in the order written: their rows, Arrow bytes, and COPY bytes in the log */
  #pending: { table: T; rows: number; bytes: number; start: number; end?: number }[] = [];
  readonly #log: ReplayLog;
  #pendingRows = 0;
  #pendingBytes = 0;

  constructor(opts: SessionOptions<T>) {
    this.#opts = opts;
    this.#log = new ReplayLog(opts.connector);
  }

  /** connect for the first time */
  async connect(): Promise<void> {
    try {
      this.#client = await this.#newClient();
    } catch (err) {
      throw new DestinationWriteError(`cannot connect to Postgres: ${(err as Error).message}`, { connector: this.#opts.connector, phase: 'connect' }, err);
    }
  }

  /** the current connection (a reconnect replaces it: do not keep it across awaits of other work) */
  get client(): pg.Client {
    if (!this.#client) throw new DestinationWriteError('not connected to Postgres', { connector: this.#opts.connector, phase: 'connect' });
    return this.#client;
  }

  async #newClient(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.#opts.connectionString, application_name: 'cq-pipe' });
    c.on('error', (err) => this.#opts.logger.warn(`postgres connection error: ${err.message}`));
    try {
      await c.connect();
      await c.query("SET TIME ZONE 'UTC'");
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
    return c;
  }

  // --- the streaming transaction ------------------------------------------------------------

  /** open the transaction batches are written in, unless it is open */
  async begin(): Promise<void> {
    if (!this.#inTx) {
      await this.client.query('BEGIN');
      this.#inTx = true;
    }
  }

  /** commit the open transaction (if any): its batches are no longer kept */
  async commit(): Promise<void> {
    if (this.#inTx) {
      await this.client.query('COMMIT');
      this.#inTx = false;
    }
    this.#discard();
    await this.#log.reset();
  }

  /** roll the open transaction (if any) back; its batches stay kept until `discard` */
  async rollback(): Promise<void> {
    if (this.#inTx) {
      await this.client.query('ROLLBACK').catch(() => {});
      this.#inTx = false;
    }
  }

  /**
   * keep `batches` of `table`, written in the open transaction, until it commits: their COPY
   * chunks must then be sent through `logged` (and all of them logged, see LoggedChunks.rest)
   */
  keep(table: T, batches: readonly A.RecordBatch[]): void {
    const last = this.#pending[this.#pending.length - 1];
    if (last && last.end === undefined) last.end = this.#log.size;
    const e = { table, rows: 0, bytes: 0, start: this.#log.size };
    for (const b of batches) {
      e.rows += b.numRows;
      e.bytes += batchByteSize(b);
    }
    this.#pending.push(e);
    this.#pendingRows += e.rows;
    this.#pendingBytes += e.bytes;
  }

  /** the COPY chunks of the batches last kept, logged for a replay as they are sent */
  logged(chunks: Iterable<Buffer>): LoggedChunks {
    return new LoggedChunks(this.#log, chunks);
  }

  /** the kept batches reached the size at which the transaction should commit */
  get full(): boolean {
    return this.#pendingRows >= LOAD_ROWS || this.#pendingBytes >= LOAD_BYTES;
  }

  get pendingRows(): number {
    return this.#pendingRows;
  }

  /** in-memory Arrow bytes of the kept batches */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** the tables of the kept batches, each once, in the order first written */
  get pendingTables(): T[] {
    return [...new Set(this.#pending.map((p) => p.table))];
  }

  /** forget the kept batches: all of them, or those of `table` only */
  discard(table?: T): void {
    if (table === undefined) {
      this.#discard();
      return;
    }
    this.#seal();
    this.#pending = this.#pending.filter((p) => p.table !== table);
    this.#pendingRows = this.#pending.reduce((n, p) => n + p.rows, 0);
    this.#pendingBytes = this.#pending.reduce((n, p) => n + p.bytes, 0);
  }

  /** the last batch kept ends where the log ends now */
  #seal(): void {
    const last = this.#pending[this.#pending.length - 1];
    if (last && last.end === undefined) last.end = this.#log.size;
  }

  #discard(): void {
    this.#pending = [];
    this.#pendingRows = 0;
    this.#pendingBytes = 0;
  }

  /** write the kept batches again (into a new transaction, after a rollback), retrying transient errors */
  async replayKept(): Promise<void> {
    await this.retryingOnce('replay', () => this.#replay());
  }

  async #replay(): Promise<void> {
    this.#seal();
    for (const p of this.#pending) if (p.rows > 0) await this.#opts.replay(p.table, this.#log.read(p.start, p.end!), p.rows);
  }

  async #reconnectAndReplay(): Promise<void> {
    this.#opts.onReconnect();
    this.#inTx = false;
    await this.#client?.end().catch(() => {});
    this.#client = await this.#newClient();
    await this.#replay();
  }

  // --- retries -----------------------------------------------------------------------------

  /**
   * run `fn`; on a transient error reconnect (replaying the open transaction) and run it again,
   * with lib/retry.ts's backoff. Reconnecting may itself fail while the server comes back: that
   * counts as a try too.
   */
  async retrying<R>(what: string, fn: () => Promise<R>): Promise<R> {
    const log = this.#opts.logger;
    let reconnect = false;
    let reconnecting = false;
    return retry(
      async () => {
        if (reconnect) {
          reconnecting = true;
          await this.#reconnectAndReplay();
          reconnecting = false;
          reconnect = false;
        }
        return fn();
      },
      {
        attempts: DEFAULT_ATTEMPTS,
        isRetryable: isTransient,
        onRetry: ({ retry: n, retries, delayMs, error }) => {
          reconnect = true;
          const msg = (error as Error).message;
          const wait = `retry ${n}/${retries} in ${Math.round(delayMs)} ms`;
          if (reconnecting) log.warn(`reconnecting to Postgres failed: ${msg}; ${wait}`, { phase: what });
          else log.warn(`transient Postgres error during ${what}: ${msg}; ${wait} (replaying ${this.#pendingRows} uncommitted rows)`, { phase: what });
        },
      },
    );
  }

  /**
   * Like `retrying`, for work that only writes kept batches: once a reconnect has replayed them,
   * `fn` is not run again.
   */
  async retryingOnce(what: string, fn: () => Promise<void>): Promise<void> {
    let first = true;
    await this.retrying(what, async () => {
      if (!first) return; // a reconnect already replayed it
      first = false;
      await fn();
    });
  }

  // --- one-off transactions ------------------------------------------------------------------

  /** run `fn` in a transaction of its own (outside the streaming one), rolled back if it throws */
  async transaction(fn: (client: pg.Client) => Promise<void>): Promise<void> {
    const client = this.client;
    await client.query('BEGIN');
    try {
      await fn(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.#client?.end().catch(() => {});
    await this.#log.settled();
    this.#log.close();
  }
}
