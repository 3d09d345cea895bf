/**
 * The built-in registry: the connectors of connectors/index.ts and the transformers of
 * transforms/index.ts, each loaded on first use. The CLI and the package entry inject it into the
 * engine (lib/registry.ts).
 */
import type { Registry } from '../lib/registry.js';
import { defineTransformer } from '../lib/transformer.js';
import { connectorRegistry } from '../connectors/index.js';
import { BUILTIN_TRANSFORMERS, openTransformer, validateTransformer } from '../transforms/index.js';

export const builtinRegistry: Registry = {
  ...connectorRegistry,
  names: { ...connectorRegistry.names, transformer: BUILTIN_TRANSFORMERS },
  async transformer(p, baseDir) {
    return defineTransformer<Record<string, unknown>>({
      name: p,
      validate: (spec) => validateTransformer({ path: p, spec, baseDir }),
      create: (spec, ctx) => openTransformer({ name: ctx.name, path: p, spec, origin: ctx.origin }, ctx),
    });
  },
};
