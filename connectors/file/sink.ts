/**
 * The file destination's ObjectSink (connectors/object-writer/sink.ts): an object is a local file,
 * written to `<final>.tmp-<random>` beside its final path (connectors/file/writers/sink.ts) and
 * renamed into place when it ends, so readers never see a partial file; a discarded file's temp
 * file is removed. Relative names resolve against the working directory. docs/file-destination.md
 * has the details.
 */
import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import type { ConnectorContext } from '../../lib/connector.js';
import type { ObjectSink, ObjectStream, SinkWords } from '../object-writer/sink.js';
import { FileSink } from './writers/sink.js';

/** `<final>.tmp-<random>` beside the final file, so the rename is atomic. */
function tempPath(final: string): string {
  return `${final}.tmp-${randomBytes(6).toString('hex')}`;
}

/** A temp file that is renamed to its final path when it ends. */
class PublishedFile implements ObjectStream {
  readonly #temp: FileSink;
  readonly #final: string;
  readonly #onDone: () => void;

  constructor(temp: FileSink, final: string, onDone: () => void) {
    this.#temp = temp;
    this.#final = final;
    this.#onDone = onDone;
  }

  get path(): string {
    return this.#temp.path;
  }

  write(chunk: Uint8Array | string, give?: boolean): Promise<void> {
    return this.#temp.write(chunk, give);
  }

  async end(): Promise<void> {
    await this.#temp.end();
    await rename(this.#temp.path, this.#final);
    this.#onDone();
  }

  discard(): Promise<void> {
    return this.#temp.discard();
  }
}

export class FileObjects implements ObjectSink {
  readonly words: SinkWords = { noun: 'file', done: 'published', writing: 'writing', finishing: 'finishing' };
  readonly schemaErrorsFailTable = true;
  readonly #ctx: ConnectorContext;
  /** files published so far (for logs and tests) */
  readonly written: string[] = [];

  constructor(ctx: ConnectorContext) {
    this.#ctx = ctx;
  }

  name(rendered: string): string {
    return path.resolve(this.#ctx.baseDir, rendered);
  }

  location(name: string): string {
    return name;
  }

  reason(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
  }

  async open(name: string, object: { table: string; gzip: boolean; rows: () => number }): Promise<ObjectStream> {
    const temp = await FileSink.open(tempPath(name), object.gzip);
    return new PublishedFile(temp, name, () => {
      this.written.push(name);
      this.#ctx.logger.debug('file written', { table: object.table, file: name, rows: object.rows() });
    });
  }
}
