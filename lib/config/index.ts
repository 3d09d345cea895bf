export { loadConfig, ConfigProblems, formatKeyPath, type LoadOptions, type ConfigProblem } from './load.js';
export type { LoadedConfig, SourceSpec, DestinationSpec, TransformerSpec, BackendOptions, Origin } from './types.js';
