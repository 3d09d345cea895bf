/**
 * The dead-letter file of the `postgresql` destination (see docs/postgresql.md, "Rejected rows"):
 * rows the server rejects are appended to an NDJSON file as `{"table", "reason", "row"}`, one line
 * per row, with uuids as strings, json as parsed values and 64-bit integers as strings. The file
 * (and its directory) is created on the first rejected row.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type * as A from 'apache-arrow';
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

  /** append every row of `batch` with the reason the server (or the encoder) gave */
  async write(table: string, reason: string, batch: A.RecordBatch): Promise<void> {
    if (!this.#out) {
      await mkdir(path.dirname(this.#path), { recursive: true });
      this.#out = createWriteStream(this.#path, { flags: 'a' });
    }
    const out = this.#out;
    for (const row of rowValues(batch)) {
      const line = JSON.stringify({ table, reason, row }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n';
      if (!out.write(line)) await new Promise((r) => out.once('drain', () => r(undefined)));
      this.#rows++;
    }
  }

  async close(): Promise<void> {
    const out = this.#out;
    if (out) await new Promise<void>((r) => out.end(r));
  }
}
