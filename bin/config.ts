/**
 * Config loading and state with the built-in registry injected: what the CLI uses, and what the
 * package entry (index.ts) exports. Pass another registry to add connectors by name.
 */
import { loadConfig as loadWith, type LoadOptions } from '../lib/config/index.js';
import type { BackendOptions, LoadedConfig } from '../lib/config/types.js';
import type { Registry } from '../lib/registry.js';
import { openState as openWith, type StateBackend } from '../lib/state/index.js';
import { builtinRegistry, builtinRegistryWith } from './registry.js';

export { builtinRegistry };

/** the registry loadConfig uses by default: the built-in one, with the CLI's `--cq-dir` once set */
let defaultRegistry: Registry = builtinRegistry;

/** The CLI's `--cq-dir` (CloudQuery's plugin cache, docs/cloudquery.md): loadConfig then finds Hub plugins under it. */
export function usePluginDirectory(cqDir: string | undefined): void {
  defaultRegistry = cqDir === undefined ? builtinRegistry : builtinRegistryWith({ cqDir });
}

/** Load and validate config files against the built-in registry (or `opts.registry`). */
export function loadConfig(paths: string[], opts: Partial<LoadOptions> = {}): Promise<LoadedConfig> {
  return loadWith(paths, { ...opts, registry: opts.registry ?? defaultRegistry });
}

/** Open a source's state backend (`backend_options`) from the built-in backends (or `registry`). */
export function openState(options: BackendOptions | undefined, source: string, registry: Registry = builtinRegistry): Promise<StateBackend> {
  return openWith(options, source, registry);
}
