/** `file://dir`: one JSON file per state table, replaced atomically (write to a temp file, rename). */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StateBackendProvider } from '../../lib/registry.js';
import { randomBytes } from 'node:crypto';
import { MemoryState } from '../../lib/state/types.js';
import { StateError } from '../../lib/errors.js';

export class FileState extends MemoryState {
  override readonly description: string;
  private constructor(private readonly file: string) {
    super();
    this.description = `file ${file}`;
  }

  static async open(dir: string, table: string): Promise<FileState> {
    const s = new FileState(path.join(dir, `${table}.json`));
    try {
      const doc = JSON.parse(await readFile(s.file, 'utf8')) as Record<string, { value: unknown; version: string }>;
      for (const [k, v] of Object.entries(doc)) {
        // a hand-edited value that is not text cannot be a saved cursor (docs/incremental.md)
        if (typeof v?.value !== 'string') throw new StateError(`${s.file}: the value of "${k}" is not a string`, { file: s.file, table: k });
        s.values.set(k, { value: v.value, version: BigInt(v.version) });
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return s;
  }

  override async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    await mkdir(path.dirname(this.file), { recursive: true });
    const doc = Object.fromEntries([...this.values].map(([k, v]) => [k, { value: v.value, version: v.version.toString() }]));
    const tmp = `${this.file}.tmp-${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, JSON.stringify(doc, null, 2) + '\n');
    await rename(tmp, this.file);
    this.dirty.clear();
  }
}

/** `file://./dir` (relative to the working directory) or `file:///abs/dir` state. */
export const fileStateBackend: StateBackendProvider = {
  schemes: ['file://'],
  open(connection, table) {
    const rest = connection.slice('file://'.length);
    const dir = rest.startsWith('/') ? fileURLToPath(connection) : path.resolve(process.cwd(), rest);
    return FileState.open(dir, table);
  },
};
