export { loadConfig, withRegistry, ConfigProblems, formatKeyPath, type LoadOptions, type ConfigProblem } from './load.js';
export type { LoadedConfig, SourceSpec, DestinationSpec, TransformerSpec, BackendOptions, Origin } from './types.js';
export { ENGINE_DESTINATION_PROPERTIES, splitEngineKeys, withEngineKeys, durationMs, type BatchCaps } from './engine-keys.js';
