/**
 * Binary COPY of Arrow batches into one Postgres table (see docs/postgresql.md, "Loading"); the
 * tuples are encoded by `copy-binary.ts`. `copyBatches` sends a fixed list of batches as one COPY;
 * a `CopyLoad` stays open so that consecutive batches of a table stream into the same COPY (the
 * server works while the next batch is read and encoded) until it is ended.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as A from 'apache-arrow';
import type pg from 'pg';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';
import { quoteIdent } from './catalog.js';
import { COPY_HEADER, COPY_TRAILER, encodeBatch } from './copy-binary.js';
import { DestinationWriteError } from '../../lib/errors.js';

/** a column written, in batch order, with its name and type in the database */
export interface CopyColumn {
  field: A.Field;
  name: string;
  pgType: string;
}

function copySql(target: string, columns: readonly CopyColumn[]): string {
  return `COPY ${target} (${columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN (FORMAT binary)`;
}

function encoding(columns: readonly CopyColumn[]): { field: A.Field; pgType: string }[] {
  return columns.map((c) => ({ field: c.field, pgType: c.pgType }));
}

/** the COPY tuples of `batches` (columns in `columns` order), in chunks of about a megabyte */
export function* encodeBatches(batches: readonly A.RecordBatch[], columns: readonly CopyColumn[]): Generator<Buffer> {
  const encoded = encoding(columns);
  for (const b of batches) yield* encodeBatch(b, encoded);
}

/** COPY `batches` into `target` (a quoted, possibly qualified table name) and wait for the server */
export async function copyBatches(client: pg.Client, target: string, columns: readonly CopyColumn[], batches: readonly A.RecordBatch[]): Promise<void> {
  const stream = client.query(copyFrom(copySql(target, columns)));
  const encoded = encoding(columns);
  function* chunks(): Generator<Buffer> {
    yield COPY_HEADER;
    for (const b of batches) yield* encodeBatch(b, encoded);
    yield COPY_TRAILER;
  }
  await pipeline(Readable.from(chunks(), { objectMode: false }), stream);
}

/**
 * A COPY into one table left open for more batches. Nothing else can be sent on the connection
 * until it is ended (or aborted). A server error ends it early: the next `write` or `end` throws it.
 */
export class CopyLoad {
  readonly #stream: CopyStreamQuery;
  readonly #done: Promise<void>;
  #error?: Error;
  /** the trailer was sent */
  #ended = false;

  constructor(client: pg.Client, target: string, columns: readonly CopyColumn[]) {
    const stream = client.query(copyFrom(copySql(target, columns)));
    this.#stream = stream;
    this.#done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', (e: Error) => {
        this.#error = e;
        reject(e);
      });
    });
    this.#done.catch(() => {}); // observed through #error / end()
    stream.write(COPY_HEADER);
  }

  /** send COPY tuples (from `encodeBatches`, or a replay), waiting whenever the connection's buffer is full */
  async write(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    const stream = this.#stream;
    for await (const chunk of chunks) {
      if (this.#error) throw this.#error;
      if (!stream.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            stream.removeListener('drain', done);
            stream.removeListener('error', done);
            resolve();
          };
          stream.once('drain', done);
          stream.once('error', done);
        });
      }
    }
    if (this.#error) throw this.#error;
  }

  /** send the trailer (once) and wait until the server has taken the load */
  async end(): Promise<void> {
    if (!this.#error && !this.#ended) {
      this.#ended = true;
      this.#stream.end(COPY_TRAILER);
    }
    await this.#done;
  }

  /** give the load up (its transaction is being rolled back, or its connection dropped) */
  abort(reason: unknown): void {
    if (!this.#error && !this.#ended) this.#stream.destroy(reason instanceof Error ? reason : new DestinationWriteError(String(reason), { phase: 'load' }));
  }
}
