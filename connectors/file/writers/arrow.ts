/**
 * Arrow IPC stream format (`.arrow`): the schema message once, each batch as it comes, then the
 * end-of-stream marker, so a file written batch by batch (no_rotate) is still one stream any
 * Arrow reader opens. Extension columns keep their storage and field metadata (lossless).
 */
import * as A from 'apache-arrow';
import { InternalError, SchemaIncompatibleError } from '../../../lib/errors.js';
import { relabel } from '../../../lib/schema.js';
import type { ByteSink } from './byte-sink.js';
import type { FormatWriter } from './index.js';

const EOS = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Length of the leading schema message of an IPC stream (continuation, length, flatbuffer). */
function schemaMessageLength(ipc: Uint8Array): number {
  const view = new DataView(ipc.buffer, ipc.byteOffset, ipc.byteLength);
  // apache-arrow writes the continuation marker before every message: anything else is a bug (or an incompatible apache-arrow)
  if (view.getUint32(0, true) !== 0xffffffff) throw new InternalError('unexpected Arrow IPC framing (no continuation marker)', { phase: 'write' });
  return 8 + view.getInt32(4, true);
}

function sameShape(a: A.Schema, b: A.Schema): boolean {
  return a.fields.length === b.fields.length && a.fields.every((f, i) => f.name === b.fields[i]!.name && A.util.compareTypes(f.type, b.fields[i]!.type));
}

export class ArrowWriter implements FormatWriter {
  rows = 0;
  #header: Uint8Array | undefined;
  constructor(
    readonly sink: ByteSink,
    readonly schema: A.Schema,
  ) {}
  get path(): string {
    return this.sink.path;
  }
  async write(batches: A.RecordBatch[]): Promise<void> {
    if (!batches.length) return;
    for (const b of batches) {
      if (!sameShape(b.schema, this.schema)) {
        throw new SchemaIncompatibleError(`batch columns changed within one Arrow file ${this.sink.path}`, { phase: 'write' });
      }
    }
    const ipc = A.tableToIPC(
      new A.Table(
        this.schema,
        batches.map((b) => (b.schema === this.schema ? b : relabel(b, this.schema))),
      ),
      'stream',
    );
    const headerLen = schemaMessageLength(ipc);
    const header = ipc.subarray(0, headerLen);
    if (!this.#header) {
      this.#header = header.slice();
      await this.sink.write(this.#header);
    } else if (!Buffer.from(header).equals(Buffer.from(this.#header))) {
      throw new SchemaIncompatibleError(`schema changed within one Arrow file ${this.sink.path}`, { phase: 'write' });
    }
    await this.sink.write(ipc.subarray(headerLen, ipc.byteLength - EOS.length));
    this.rows += batches.reduce((n, b) => n + b.numRows, 0);
  }
  async finish(): Promise<void> {
    if (!this.#header) {
      // no rows: still a valid stream (schema, end)
      const ipc = A.tableToIPC(new A.Table(this.schema), 'stream');
      await this.sink.write(ipc.subarray(0, schemaMessageLength(ipc)));
    }
    await this.sink.write(EOS);
    await this.sink.end();
  }
  discard(): Promise<void> {
    return this.sink.discard();
  }
}
