/**
 * Every JSON schema cq-pipe validates with that is known at build time, each under a readable
 * name: the config document's, each kind's, every built-in source's and transformer's, every
 * built-in destination's with the engine's keys (as the config loader and the plugin server check
 * it), and the hosted CloudQuery plugins' pass-through schema. scripts/compile-schemas.ts compiles
 * them into dist/ (lib/config/precompiled.ts); tests compare the two ways of validating on them.
 */
import { builtinRegistry } from '../bin/registry.js';
import { pluginDestination } from '../connectors/cloudquery-plugin/destination.js';
import { pluginSource } from '../connectors/cloudquery-plugin/source.js';
import { resolveSource } from '../connectors/index.js';
import { withEngineKeys } from '../lib/config/engine-keys.js';
import { KIND_SCHEMAS, KINDS, documentSchema } from '../lib/config/schema.js';

export interface NamedSchema {
  name: string;
  schema: object;
}

export async function builtinSchemas(): Promise<NamedSchema[]> {
  const out: NamedSchema[] = [{ name: 'document', schema: documentSchema }];
  for (const k of KINDS) out.push({ name: `kind:${k}`, schema: KIND_SCHEMAS[k] });
  const cwd = process.cwd();
  for (const n of builtinRegistry.names.source) out.push({ name: `source:${n}`, schema: (await builtinRegistry.source(n, cwd)).configSchema });
  out.push({ name: 'source:cloudquery/test', schema: (await resolveSource('cloudquery/test', cwd)).configSchema });
  for (const n of builtinRegistry.names.destination) {
    out.push({ name: `destination:${n}`, schema: withEngineKeys((await builtinRegistry.destination(n, cwd)).configSchema) });
  }
  for (const n of builtinRegistry.names.transformer) {
    const schema = (await builtinRegistry.transformer(n, cwd)).configSchema;
    if (schema) out.push({ name: `transformer:${n}`, schema });
  }
  // a hosted plugin (grpc, local, hub, docker) checks its own spec; cq-pipe passes any map on
  out.push({ name: 'source:plugin', schema: pluginSource({ address: 'localhost:7777' }).configSchema });
  out.push({ name: 'destination:plugin', schema: withEngineKeys(pluginDestination({ address: 'localhost:7777', modes: {} }).configSchema) });
  return out;
}
