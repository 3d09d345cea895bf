/**
 * The text of the records a file source rejects (docs/bad-input.md, values the source cannot
 * convert). read() keeps no text of the rows it converts, so the hot path stays as it is; when a
 * batch leaves rows out, their records are taken from a second reading of the file, opened on the
 * first rejected row and moved forward only (positions grow through a file), so a file is read at
 * most twice however many of its rows are rejected.
 */
import type { RawRecord } from './formats/index.js';

export class RawRecords {
  readonly #open: () => AsyncIterable<RawRecord>;
  #it?: AsyncIterator<RawRecord>;
  #at?: RawRecord;
  #ended = false;

  constructor(open: () => AsyncIterable<RawRecord>) {
    this.#open = open;
  }

  /** the text of the records at `positions` (ascending, and past those asked before); '' for one not found */
  async get(positions: readonly number[]): Promise<string[]> {
    this.#it ??= this.#open()[Symbol.asyncIterator]();
    const out: string[] = [];
    for (const pos of positions) {
      while (!this.#ended && (this.#at === undefined || this.#at.pos < pos)) {
        const r = await this.#it.next();
        if (r.done) this.#ended = true;
        else this.#at = r.value;
      }
      out.push(this.#at?.pos === pos ? this.#at.raw : '');
    }
    return out;
  }

  /** stop the second reading, if one was opened */
  async close(): Promise<void> {
    await this.#it?.return?.();
  }
}
