/** Choose and open the state backend of a source from its `backend_options`. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendOptions } from '../config/types.js';
import { SourceReadError, UnsupportedError } from '../errors.js';
import { FileState } from './file.js';
import { MemoryState, type StateBackend } from './types.js';

export type { StateBackend } from './types.js';
export { MemoryState } from './types.js';

export const STATE_SCHEMES = ['postgres://', 'postgresql://', 'file://', 's3://'] as const;

export async function openState(options: BackendOptions | undefined, source: string): Promise<StateBackend> {
  if (!options) return new MemoryState();
  const c = options.connection;
  try {
    if (c.startsWith('postgres://') || c.startsWith('postgresql://')) return await (await import('./postgres.js')).PostgresState.open(c, options.table_name);
    if (c.startsWith('s3://')) return await (await import('./s3.js')).S3State.open(c, options.table_name);
    if (c.startsWith('file://')) {
      const rest = c.slice('file://'.length);
      const dir = rest.startsWith('/') ? fileURLToPath(c) : path.resolve(process.cwd(), rest);
      return await FileState.open(dir, options.table_name);
    }
  } catch (err) {
    throw new SourceReadError(`cannot open the state backend of source ${source}: ${(err as Error).message}`, { connector: source, phase: 'state' }, err);
  }
  throw new UnsupportedError(`state backend "${c.split(':')[0]}" is not supported yet`, { connector: source, keyPath: 'spec.backend_options.connection' }, 'use postgres://…, @@plugins.<postgres destination>.connection, s3://bucket/prefix or file://./dir');
}
