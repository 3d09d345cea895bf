/** Choose and open the state backend of a source from its `backend_options` (docs/incremental.md). */
import type { BackendOptions } from '../config/types.js';
import { CqPipeError, StateError, UnsupportedError, type ErrorContext } from '../errors.js';
import type { Registry } from '../registry.js';
import { MemoryState, type StateBackend } from './types.js';

export type { StateBackend } from './types.js';
export { MemoryState } from './types.js';

/** The backend of `options.connection` from the registry; without backend_options, memory (nothing kept). */
export async function openState(
  options: BackendOptions | undefined,
  source: string,
  registry: Pick<Registry, 'stateBackend' | 'names'>,
): Promise<StateBackend> {
  if (!options) return new MemoryState();
  const c = options.connection;
  const provider = await registry.stateBackend(c);
  if (!provider) {
    throw new UnsupportedError(
      `state backend "${c.split(':')[0]}" is not supported yet`,
      { connector: source, keyPath: 'spec.backend_options.connection' },
      'use postgres://…, @@plugins.<postgres destination>.connection, s3://bucket/prefix or file://./dir',
    );
  }
  try {
    return await provider.open(c, options.table_name);
  } catch (err) {
    throw new StateError(`cannot open the state backend of source ${source}: ${(err as Error).message}`, { connector: source, phase: 'state' }, err);
  }
}

/**
 * Make a backend's staged changes durable; a backend's own typed error (a state conflict) is kept,
 * anything else becomes a StateError naming where the state lives.
 */
export async function flushState(state: StateBackend, context: ErrorContext = {}): Promise<void> {
  try {
    await state.flush();
  } catch (err) {
    if (err instanceof CqPipeError) throw err;
    throw new StateError(`cannot save the state to ${state.description}: ${err instanceof Error ? err.message : String(err)}`, context, err);
  }
}
