/**
 * cq-pipe's public library API. Everything here is usable inside your own `stream.pipeline()`:
 * sources are async iterables of SyncMessages, stages are async-generator functions, and
 * destinations are Writables (`openDestination` / `BatchWriter`).
 */
export { runSync, openSource, openDestination, sourceMessages, batchCaps, type RunSyncOptions, type SyncResult, type Shard } from './pipeline.js';
export { loadConfig } from './config/index.js';
export type { LoadedConfig, SourceSpec, DestinationSpec, TransformerSpec } from './config/types.js';
export { defineSource, defineDestination, parseDuration, BATCH_SPEC_PROPERTIES } from './connector.js';
export type { SourceConnector, DestinationConnector, SourceClient, DestinationClient, ConnectorContext, ReadOptions, MigrateOptions } from './connector.js';
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
export { internalColumns, addInternalColumns } from '../transforms/internal-columns.js';
export { writeMode, rewriteSchema } from '../transforms/write-mode.js';
export { testSource } from '../connectors/test-source.js';
export { fileSource } from '../connectors/file/source.js';
export { fileDestination } from '../connectors/file/destination.js';
export { memoryDestination, memoryTables } from '../connectors/memory.js';
export { postgresDestination } from '../connectors/postgresql/destination.js';
export { postgresSource } from '../connectors/postgresql/source.js';
export { openTransformer, openTransformers, composeStages, transformerStream, moduleTransformerSpec, BUILTIN_TRANSFORMERS, type MessageStage, type TransformContext, type TransformFunction } from '../transforms/index.js';
export { s3Source } from '../connectors/s3/source.js';
export { s3Destination } from '../connectors/s3/destination.js';
