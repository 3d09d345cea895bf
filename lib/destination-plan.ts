/**
 * One destination's plan, built in one place for `sync`, `write`, `migrate` and `tables`: its
 * connector, its batch caps, and the stage chain every message goes through before the batch
 * writer (the destination's transformers in list order, then write and PK modes). The schemas a
 * destination creates are computed by running the tables' migrate-table messages through that same
 * chain, so `migrate --plan` prints exactly what `sync` creates. A `sync_group_id` adds its column
 * first (lib/stages/sync-group-id.ts), as the CloudQuery CLI does.
 */
import type * as A from 'apache-arrow';
import type { DestinationConnector } from './connector.js';
import type { DestinationSpec, LoadedConfig } from './config/types.js';
import type { BatchCaps } from './config/engine-keys.js';
import type { SyncMessage } from './messages.js';
import type { Logger } from './logger.js';
import type { Registry } from './registry.js';
import { composeStages, createStage, listedTransformers, type MessageStage } from './transformer.js';
import { UnsupportedError } from './errors.js';
import { writeMode } from './stages/write-mode.js';
import { renderSyncGroupId, syncGroupId } from './stages/sync-group-id.js';
import { type AddInternalColumnsOptions, addInternalColumns } from './stages/internal-columns.js';

export interface PlanContext {
  logger?: Logger;
  syncTime: Date;
  invocationId: string;
}

export interface DestinationPlan {
  dest: DestinationSpec;
  connector: DestinationConnector;
  caps: BatchCaps;
  /** transformers then write/PK modes; a fresh instance per plan (transformers keep per-table state) */
  stage: MessageStage;
}

/** The registry of a config: the one it was loaded against, or an explicit one. */
export function registryOf(config: Pick<LoadedConfig, 'registry'>, explicit?: Registry): Registry {
  const r = explicit ?? config.registry;
  if (!r) {
    throw new UnsupportedError(
      'this config carries no registry of connectors',
      { phase: 'run' },
      "load it with loadConfig() from 'cq-pipe', or attach one with withRegistry(config, builtinRegistry)",
    );
  }
  return r;
}

/** A destination's batch caps: what its spec set over the connector's defaults. */
export function batchCaps(connector: DestinationConnector, batch: Partial<BatchCaps> = {}): BatchCaps {
  return { ...connector.capabilities.batch, ...batch };
}

/** Build the plan of one destination of a config. Opens no connection. */
export async function destinationPlan(
  dest: DestinationSpec,
  config: Pick<LoadedConfig, 'transformers' | 'registry'>,
  ctx: PlanContext,
  registry?: Registry,
): Promise<DestinationPlan> {
  const reg = registryOf(config, registry);
  const connector = await reg.destination(dest.path, dest.origin.baseDir, dest);
  const stages: MessageStage[] = [];
  // the CLI adds `_cq_sync_group_id` with the reserved columns, before the transformers
  if (dest.sync_group_id) stages.push(syncGroupId(renderSyncGroupId(dest.sync_group_id, ctx.syncTime, ctx.invocationId)));
  for (const t of listedTransformers(dest.name, dest.transformers, config.transformers)) {
    stages.push(await createStage(await reg.transformer(t.path, t.origin.baseDir), t, { ...ctx, destination: dest.name }));
  }
  stages.push(writeMode({ writeMode: dest.write_mode, pkMode: dest.pk_mode }));
  return { dest, connector, caps: batchCaps(connector, dest.batch), stage: composeStages(stages) };
}

/**
 * Source tables as every destination receives them first: with the reserved columns (and `_cq_id`
 * the only key when the source's `deterministic_cq_id` is on, `opts.cqIdAsPk`).
 */
export function withInternalColumns(tables: readonly A.Schema[], opts: AddInternalColumnsOptions = {}): A.Schema[] {
  return tables.map((t) => addInternalColumns(t, opts).schema);
}

/** The schemas a plan's destination receives for these tables (reserved columns already added). */
export async function plannedSchemas(plan: Pick<DestinationPlan, 'stage'>, tables: readonly A.Schema[]): Promise<A.Schema[]> {
  async function* migrations(): AsyncGenerator<SyncMessage> {
    for (const table of tables) yield { kind: 'migrate-table', table };
  }
  const out: A.Schema[] = [];
  for await (const m of plan.stage(migrations())) if (m.kind === 'migrate-table') out.push(m.table);
  return out;
}
