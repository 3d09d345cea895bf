/**
 * The built-in registry: the connectors of connectors/index.ts and the transformers of
 * transforms/index.ts, each loaded on first use. The CLI and the package entry inject it into the
 * engine (lib/registry.ts).
 */
import type { Registry } from '../lib/registry.js';
import { connectorRegistry } from '../connectors/index.js';
import { BUILTIN_TRANSFORMERS, resolveTransformer } from '../transforms/index.js';

export const builtinRegistry: Registry = {
  ...connectorRegistry,
  names: { ...connectorRegistry.names, transformer: BUILTIN_TRANSFORMERS },
  transformer: resolveTransformer,
};
