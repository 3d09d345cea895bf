/** Config loading and state for the CLI: the engine's functions with the built-in registry injected. */
import { loadConfig as loadWith, type LoadOptions } from '../lib/config/index.js';
import type { BackendOptions, LoadedConfig } from '../lib/config/types.js';
import { openState as openWith, type StateBackend } from '../lib/state/index.js';
import { builtinRegistry } from './registry.js';

export { builtinRegistry };

export function loadConfig(paths: string[], opts: Omit<LoadOptions, 'registry'> = {}): Promise<LoadedConfig> {
  return loadWith(paths, { ...opts, registry: builtinRegistry });
}

export function openState(options: BackendOptions | undefined, source: string): Promise<StateBackend> {
  return openWith(options, source, builtinRegistry);
}
