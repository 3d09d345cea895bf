/**
 * The built-in registry: the connectors of connectors/index.ts and the transformers of
 * transforms/index.ts, each loaded on first use. The CLI and the package entry inject it into the
 * engine (lib/registry.ts).
 */
import type { Registry } from '../lib/registry.js';
import { connectorRegistryWith } from '../connectors/index.js';
import type { LocateOptions } from '../connectors/cloudquery-plugin/locate.js';
import { BUILTIN_TRANSFORMERS, resolveTransformer } from '../transforms/index.js';

/** The built-in registry with CloudQuery Hub plugins cached under `plugins.cqDir` (`--cq-dir`, docs/plugins.md). */
export function builtinRegistryWith(plugins: LocateOptions): Registry {
  const connectors = connectorRegistryWith(plugins);
  return { ...connectors, names: { ...connectors.names, transformer: BUILTIN_TRANSFORMERS }, transformer: resolveTransformer };
}

export const builtinRegistry: Registry = builtinRegistryWith({});
