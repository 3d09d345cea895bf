/**
 * The package entry (`import … from 'cq-pipe'`): the engine's API (lib/index.ts) with the built-in
 * connectors and transformers registered. Connectors load on first use, so importing this costs no
 * more than the engine itself. The connector descriptors themselves are in 'cq-pipe/connectors'.
 */
import { loadConfig as loadConfigWith, type LoadOptions } from './lib/config/index.js';
import type { LoadedConfig } from './lib/config/types.js';
import { openState as openStateWith, type StateBackend } from './lib/state/index.js';
import type { Registry } from './lib/registry.js';
import type { BackendOptions } from './lib/config/types.js';
import { builtinRegistry } from './bin/registry.js';

export * from './lib/index.js';
export { builtinRegistry };

/** Load and validate config files against the built-in registry (or `opts.registry`). */
export function loadConfig(paths: string[], opts: Partial<LoadOptions> = {}): Promise<LoadedConfig> {
  return loadConfigWith(paths, { ...opts, registry: opts.registry ?? builtinRegistry });
}

/** Open a source's state backend (`backend_options`) from the built-in backends (or `registry`). */
export function openState(options: BackendOptions | undefined, source: string, registry: Registry = builtinRegistry): Promise<StateBackend> {
  return openStateWith(options, source, registry);
}
