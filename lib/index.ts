/**
 * The engine's API. Nothing here imports a connector or a transformer: the package entry
 * (index.ts) adds the built-ins through a registry (lib/registry.ts). Everything is usable inside
 * your own `stream.pipeline()`: sources are async iterables of SyncMessages, stages are
 * async-generator functions, and destinations are Writables (`openDestination` / `BatchWriter`).
 */
export {
  runSync,
  openSource,
  openDestination,
  sourceMessages,
  syncStatus,
  type RunSyncOptions,
  type SyncResult,
  type SyncStatus,
  type Shard,
} from './pipeline.js';
export { loadConfig, withRegistry, ENGINE_DESTINATION_PROPERTIES, type LoadOptions, type BatchCaps } from './config/index.js';
export { destinationPlan, plannedSchemas, withInternalColumns, batchCaps, type DestinationPlan } from './destination-plan.js';
export type { LoadedConfig, SourceSpec, DestinationSpec, TransformerSpec } from './config/types.js';
export { defineSource, defineDestination } from './connector.js';
export type { SourceConnector, DestinationConnector, SourceClient, DestinationClient, ConnectorContext, ReadOptions, MigrateOptions } from './connector.js';
export type { LogCounts } from './connector.js';
export * from './messages.js';
export * from './errors.js';
export { defineTable, tableName, primaryKeys, relabel, batchFromColumns, type TableDef, type ColumnDef } from './schema.js';
export { parseColumnType, typeName, TYPE_NAMES } from './types.js';
export { BatchWriter, type BatchWriterOptions } from './batch-writer.js';
export { RowBatchBuilder, ValueError } from './row-builder.js';
export { CheckpointTracker } from './checkpoints.js';
export { openState, MemoryState, type StateBackend } from './state/index.js';
export { FanOut } from './fan-out.js';
export { TableBatcher } from './batcher.js';
export { SyncStats, summaryLine, type SyncSummary } from './stats.js';
export { createLogger, type Logger } from './logger.js';
export { internalColumns, addInternalColumns } from './stages/internal-columns.js';
export { writeMode, rewriteSchema } from './stages/write-mode.js';
export { defineTransformer, composeStages, type MessageStage, type TransformerDefinition, type TransformerContext } from './transformer.js';
export type { Registry, StateBackendProvider } from './registry.js';
