/**
 * The transformer contract. A transformer is a descriptor made with `defineTransformer`, registered
 * by name (transforms/index.ts) or loaded from a module path; `create` returns a message stage for
 * one destination. Stages are async-generator functions over sync messages: they compose without
 * buffering, so backpressure holds end to end (docs/transformers.md).
 */
import type { SyncMessage } from './messages.js';
import type { SpecProblem, SpecSchema } from './connector.js';
import { silentLogger, type Logger } from './logger.js';
import type { TransformerSpec } from './config/types.js';
import { didYouMean } from './config/suggest.js';
import { ConfigError, CqPipeError, TransformError } from './errors.js';

/** One stage of a destination's chain: messages in, messages out. */
export type MessageStage = (source: AsyncIterable<SyncMessage>) => AsyncIterable<SyncMessage>;

/** Where a transformer document came from (for error messages). */
export interface TransformerOrigin {
  file: string;
  document: number;
  baseDir: string;
}

export interface TransformerContext {
  /** the transformer's `name` in config */
  name: string;
  /** the destination this instance runs for (every destination gets its own instance) */
  destination: string;
  logger: Logger;
  origin: TransformerOrigin;
  /** absent when a library caller opens a transformer without them */
  syncTime?: Date;
  invocationId?: string;
}

export interface TransformerDefinition<Spec = unknown> {
  kind: 'transformer';
  name: string;
  /** JSON schema (draft-07) of the spec; the engine checks it at config load unless `validate` is given */
  configSchema?: SpecSchema;
  /**
   * Every check at config load (the schema's included, with the transformer's own wording); key
   * paths start at the document's `spec`, e.g. ['spec', 'transformations', 0, 'kind'].
   */
  validate?(spec: Spec): SpecProblem[] | Promise<SpecProblem[]>;
  create(spec: Spec, ctx: TransformerContext): MessageStage | Promise<MessageStage>;
}

export function defineTransformer<Spec>(t: Omit<TransformerDefinition<Spec>, 'kind'>): TransformerDefinition<Spec> {
  return { kind: 'transformer', ...t };
}

function formatKeyPath(kp: readonly (string | number)[]): string {
  let s = '';
  for (const k of kp) s += typeof k === 'number' ? `[${k}]` : s ? `.${k}` : k;
  return s;
}

/**
 * Spec problems as one ConfigError naming the transformer and where it is defined: what `create`
 * throws for a spec its `validate` rejects (a config built by hand skips config-load validation).
 */
export function specProblemsError(ctx: { name: string; origin: Pick<TransformerOrigin, 'file' | 'document'> }, problems: readonly SpecProblem[]): ConfigError {
  const first = problems[0]!;
  const keyPath = formatKeyPath(first.keyPath);
  return new ConfigError(
    `transformer ${ctx.name}: ${problems.map((p) => `${formatKeyPath(p.keyPath)}: ${p.message}`).join('; ')}`,
    { file: ctx.origin.file, document: ctx.origin.document, ...(keyPath ? { keyPath } : {}) },
    first.hint,
  );
}

/**
 * What a built-in transformer throws when one of its operations fails on a table's data at run
 * time: a CqPipeError as it is (a ConfigError stays a config problem), anything else a
 * TransformError (CQ_ERR_TRANSFORM) naming the transformer and the table.
 */
export function transformFailure(ctx: { name: string; origin?: Pick<TransformerOrigin, 'file' | 'document'> }, table: string, err: unknown): CqPipeError {
  if (err instanceof CqPipeError) return err;
  return new TransformError(
    `transformer ${ctx.name}: table ${table}: ${err instanceof Error ? err.message : String(err)}`,
    { connector: `transformer ${ctx.name}`, table, ...(ctx.origin ? { file: ctx.origin.file, document: ctx.origin.document } : {}) },
    err,
  );
}

/** Stages applied one after the other, as one stage. */
export function composeStages(stages: readonly MessageStage[]): MessageStage {
  if (stages.length === 1) return stages[0]!;
  return async function* composed(source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    let it: AsyncIterable<SyncMessage> = source;
    for (const s of stages) it = s(it);
    yield* it;
  };
}

/** What opening a transformer for a destination needs besides its document. */
export interface OpenStageContext {
  destination: string;
  logger?: Logger;
  syncTime?: Date;
  invocationId?: string;
}

/**
 * The transformer documents a destination lists, in its order; a ConfigError with a did-you-mean
 * for a name the config does not define.
 */
export function listedTransformers(destination: string, names: readonly string[], specs: readonly TransformerSpec[]): TransformerSpec[] {
  return names.map((n) => {
    const spec = specs.find((s) => s.name === n);
    if (spec) return spec;
    const defined = specs.map((s) => s.name);
    throw new ConfigError(
      `destination ${destination} lists transformer "${n}", which the config does not define${didYouMean(n, defined)}`,
      { connector: destination, keyPath: 'spec.transformers' },
      defined.length ? `defined transformers: ${defined.join(', ')}` : 'add a `kind: transformer` document',
    );
  });
}

/** One instance of a transformer document for one destination. */
export function createStage(def: TransformerDefinition, t: TransformerSpec, ctx: OpenStageContext): MessageStage | Promise<MessageStage> {
  return def.create(t.spec ?? {}, {
    name: t.name,
    destination: ctx.destination,
    logger: (ctx.logger ?? silentLogger).child({ transformer: t.name }),
    origin: t.origin,
    syncTime: ctx.syncTime,
    invocationId: ctx.invocationId,
  });
}
