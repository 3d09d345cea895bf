/**
 * The package entry (`import … from 'cq-pipe'`): the engine's API (lib/index.ts) with the built-in
 * connectors and transformers registered. Connectors load on first use, so importing this costs no
 * more than the engine itself. The connector descriptors themselves are in 'cq-pipe/connectors'.
 */
export * from './lib/index.js';
export { builtinRegistry, loadConfig, openState } from './bin/config.js';
