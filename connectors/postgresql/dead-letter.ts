/**
 * The dead-letter file of the `postgresql` destination (see docs/postgresql.md, "Rejected rows"):
 * rows the server rejects are appended to an NDJSON file as `{"table", "reason", "row"}`, one line
 * per row, with uuids as strings, json as parsed values and 64-bit integers as strings; rows the
 * source could not convert (a `rejected-rows` message) as `{"table", "reason", "column", "file",
 * "line" (or "element"), "raw"}`, `raw` the record as the file holds it. The file (and its
 * directory) is created on the first rejected row.
 */
import { createWriteStream, statSync, type WriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import type * as A from 'apache-arrow';
import type { SpecProblem } from '../../lib/connector.js';
import type { RejectedRow } from '../../lib/messages.js';
import { DestinationWriteError } from '../../lib/errors.js';
import { uuidToString } from '../../lib/arrow/index.js';
import { extensionOf } from '../../lib/types.js';

const utf8 = new TextDecoder();

/** JS values of each row of `batch`, keyed by column name (uuid, inet as strings; json parsed) */
export function rowValues(batch: A.RecordBatch): Record<string, unknown>[] {
  const fields = batch.schema.fields;
  const vecs = fields.map((_, i) => batch.getChildAt(i)!);
  const exts = fields.map((f) => extensionOf(f));
  const out: Record<string, unknown>[] = [];
  for (let r = 0; r < batch.numRows; r++) {
    const row: Record<string, unknown> = {};
    fields.forEach((f, i) => {
      let v = vecs[i]!.get(r);
      const ext = exts[i];
      if (v !== null && v !== undefined) {
        if (ext === 'uuid') v = uuidToString(v as Uint8Array);
        else if (ext === 'json') v = JSON.parse(utf8.decode(v as Uint8Array));
        else if (ext === 'inet') v = utf8.decode(v as Uint8Array);
        else if (typeof v === 'object' && 'toJSON' in (v as object)) v = (v as { toJSON(): unknown }).toJSON();
      }
      row[f.name] = v;
    });
    out.push(row);
  }
  return out;
}

/** At config load: a `dead_letter` that names a directory (relative paths: the working directory). */
export function deadLetterProblems(deadLetter: unknown): SpecProblem[] {
  if (typeof deadLetter !== 'string' || deadLetter === '') return [];
  const file = path.resolve(deadLetter);
  const isDir = (() => {
    try {
      return statSync(file).isDirectory();
    } catch {
      return false;
    }
  })();
  return isDir ? [{ keyPath: ['dead_letter'], message: `${file} is a directory`, hint: 'name a file, e.g. ./rejected.ndjson' }] : [];
}

/** An append-only NDJSON file of rejected rows, opened on first use. */
export class DeadLetterFile {
  readonly #path: string;
  #out?: WriteStream;
  #rows = 0;

  constructor(file: string) {
    this.#path = file;
  }

  /** rows written so far */
  get rows(): number {
    return this.#rows;
  }

  /** the first write error of the stream (EISDIR, ENOSPC, …), as a destination error naming the file */
  #failed?: DestinationWriteError;

  #fail(err: unknown): DestinationWriteError {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    this.#failed ??= new DestinationWriteError(`cannot write the dead_letter file ${this.#path}: ${why}`, { file: this.#path, phase: 'dead-letter' }, err);
    return this.#failed;
  }

  /** append every row of `batch` with the reason the server (or the encoder) gave */
  async write(table: string, reason: string, batch: A.RecordBatch): Promise<void> {
    const bigints = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
    await this.#append(rowValues(batch).map((row) => JSON.stringify({ table, reason, row }, bigints) + '\n'));
  }

  /** append rows the source could not convert, each with its record, file, line, column and reason */
  async writeRejected(table: string, rows: readonly RejectedRow[]): Promise<void> {
    await this.#append(
      rows.map(
        (r) =>
          JSON.stringify({
            table,
            reason: r.reason,
            column: r.column,
            file: r.file,
            ...(r.line !== undefined ? { line: r.line } : { element: r.element }),
            raw: r.raw,
          }) + '\n',
      ),
    );
  }

  async #append(lines: string[]): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (!this.#out) {
      // opened first, so a directory or a read-only place is an error here, not an unhandled stream event
      const fd = await mkdir(path.dirname(this.#path), { recursive: true })
        .then(() => open(this.#path, 'a'))
        .catch((err: unknown) => Promise.reject(this.#fail(err)));
      this.#out = createWriteStream('', { fd, flags: 'a' });
      this.#out.on('error', (err) => this.#fail(err));
    }
    const out = this.#out;
    for (const line of lines) {
      if (!out.write(line)) await new Promise((r) => out.once('drain', () => r(undefined)));
      if (this.#failed) throw this.#failed;
      this.#rows++;
    }
  }

  async close(): Promise<void> {
    const out = this.#out;
    if (out && !this.#failed) await new Promise<void>((r) => out.end(r));
    else out?.destroy();
  }
}
