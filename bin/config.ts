/**
 * Config loading and state with the built-in registry injected: what the CLI uses, and what the
 * package entry (index.ts) exports. Pass another registry to add connectors by name.
 */
import { loadConfig as loadWith, type LoadOptions } from '../lib/config/index.js';
import type { BackendOptions, LoadedConfig } from '../lib/config/types.js';
import type { Registry } from '../lib/registry.js';
import { openState as openWith, type StateBackend } from '../lib/state/index.js';
import { builtinRegistry } from './registry.js';

export { builtinRegistry };

/** Load and validate config files against the built-in registry (or `opts.registry`). */
export function loadConfig(paths: string[], opts: Partial<LoadOptions> = {}): Promise<LoadedConfig> {
  return loadWith(paths, { ...opts, registry: opts.registry ?? builtinRegistry });
}

/** Open a source's state backend (`backend_options`) from the built-in backends (or `registry`). */
export function openState(options: BackendOptions | undefined, source: string, registry: Registry = builtinRegistry): Promise<StateBackend> {
  return openWith(options, source, registry);
}
