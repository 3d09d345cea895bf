/**
 * Transformers (SPEC §2 `kind: transformer`, §4; reference §9): the registry of built-in
 * transformers (`basic`, `jsonflattener`) and module paths, config-time validation, and the
 * factory the engine uses per destination:
 *
 *   input ─► transformer 1 ─► transformer 2 ─► … ─► write/pk modes ─► BatchWriter
 *            (in the order of the destination's `transformers: [...]`)
 *
 * A transformer instance is an async-generator stage over sync messages; several compose into one
 * stage (no buffering between them, backpressure end to end). `transformerStream` wraps a stage as
 * an object-mode Node Duplex for use in your own `stream.pipeline()`. Every destination gets its
 * own instances, so per-table state (plans, table renames) is per destination, as in CloudQuery.
 */
import { Duplex } from 'node:stream';
import type { SyncMessage } from '../lib/messages.js';
import type { TransformerSpec } from '../lib/config/types.js';
import type { SpecProblem } from '../lib/connector.js';
import { ConfigError, type ErrorContext } from '../lib/errors.js';
import { didYouMean } from '../lib/config/suggest.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import type { MessageStage } from '../lib/transformer.js';
import { basicSpecSchema, basicTransformer, parseBasicSpec } from './basic/index.js';
import { jsonFlattener, jsonflattenerSpecSchema, parseJsonFlattenerSpec } from './jsonflattener.js';
import { loadTransformModule, looksLikeModulePath, moduleStage } from './custom-module.js';

export type { MessageStage } from '../lib/transformer.js';
export type { TransformContext, TransformFunction } from './custom-module.js';
export { basicSpecSchema, jsonflattenerSpecSchema };

/** Built-in transformers by `path`, with the JSON schema of their `spec`. */
export const TRANSFORMERS = {
  basic: { specSchema: basicSpecSchema },
  jsonflattener: { specSchema: jsonflattenerSpecSchema },
} as const;
export const BUILTIN_TRANSFORMERS = Object.keys(TRANSFORMERS);

/** CloudQuery registry spellings (`cloudquery/basic`) name the same built-ins. */
function builtinName(p: string): string | undefined {
  const bare = p.startsWith('cloudquery/') ? p.slice('cloudquery/'.length) : p;
  return BUILTIN_TRANSFORMERS.includes(bare) ? bare : undefined;
}

export interface OpenTransformerContext {
  /** the destination the instance runs for (errors and ctx.destination of modules) */
  destination: string;
  logger?: Logger;
  syncTime?: Date;
  invocationId?: string;
}

function originContext(t: Pick<TransformerSpec, 'origin'>, keyPath?: string): ErrorContext {
  return { file: t.origin.file, document: t.origin.document, ...(keyPath ? { keyPath } : {}) };
}

function unknownPathProblem(p: string): SpecProblem {
  return {
    keyPath: ['path'],
    message: `unknown transformer "${p}"${didYouMean(p, BUILTIN_TRANSFORMERS)}`,
    hint: `built-in transformers: ${BUILTIN_TRANSFORMERS.join(', ')}; or a module path such as ./my-transform.js`,
  };
}

/**
 * Check a transformer document at config load: a built-in's spec against its schema (unknown
 * keys, unknown kinds with a did-you-mean), or that a module path loads and exports a function.
 * Key paths are relative to the document's `spec` (e.g. ['spec', 'transformations', 0, 'kind']).
 */
export async function validateTransformer(t: { path: string; spec?: Record<string, unknown>; baseDir: string }): Promise<SpecProblem[]> {
  const builtin = builtinName(t.path);
  if (builtin === 'basic') return parseBasicSpec(t.spec ?? {}).problems;
  if (builtin === 'jsonflattener') return parseJsonFlattenerSpec(t.spec ?? {}).problems;
  if (!looksLikeModulePath(t.path)) return [unknownPathProblem(t.path)];
  try {
    await loadTransformModule(t.path, t.baseDir);
    return [];
  } catch (err) {
    const e = err as ConfigError;
    return [{ keyPath: ['path'], message: e.message, ...(e.hint ? { hint: e.hint } : {}) }];
  }
}

function formatKeyPath(kp: readonly (string | number)[]): string {
  let s = '';
  for (const k of kp) s += typeof k === 'number' ? `[${k}]` : s ? `.${k}` : k;
  return s;
}

function problemsError(t: TransformerSpec, problems: SpecProblem[]): ConfigError {
  const first = problems[0]!;
  return new ConfigError(
    `transformer ${t.name}: ${problems.map((p) => `${formatKeyPath(p.keyPath)}: ${p.message}`).join('; ')}`,
    originContext(t, formatKeyPath(first.keyPath)),
    first.hint,
  );
}

/** One transformer instance (a message stage) for one destination. */
export async function openTransformer(t: TransformerSpec, ctx: OpenTransformerContext): Promise<MessageStage> {
  const builtin = builtinName(t.path);
  const stageCtx = { name: t.name, origin: t.origin };
  if (builtin === 'basic') {
    const { spec, problems } = parseBasicSpec(t.spec ?? {});
    if (!spec) throw problemsError(t, problems);
    return basicTransformer(spec, stageCtx);
  }
  if (builtin === 'jsonflattener') {
    const { spec, problems } = parseJsonFlattenerSpec(t.spec ?? {});
    if (!spec) throw problemsError(t, problems);
    return jsonFlattener(spec, stageCtx);
  }
  if (!looksLikeModulePath(t.path)) throw problemsError(t, [unknownPathProblem(t.path)]);
  const fn = await loadTransformModule(t.path, t.origin.baseDir, { ...originContext(t, 'spec.path'), connector: `transformer ${t.name}` });
  return moduleStage(fn, {
    name: t.name,
    destination: ctx.destination,
    spec: t.spec ?? {},
    logger: (ctx.logger ?? silentLogger).child({ transformer: t.name }),
    baseDir: t.origin.baseDir,
    syncTime: ctx.syncTime,
    invocationId: ctx.invocationId,
  });
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

/**
 * The transformers a destination lists, by name, composed in list order; undefined when it lists
 * none. An unknown name is a ConfigError with a did-you-mean.
 */
export async function openTransformers(
  names: readonly string[],
  specs: readonly TransformerSpec[],
  ctx: OpenTransformerContext,
): Promise<MessageStage | undefined> {
  if (!names.length) return undefined;
  const stages: MessageStage[] = [];
  for (const n of names) {
    const spec = specs.find((s) => s.name === n);
    if (!spec) {
      throw new ConfigError(
        `destination ${ctx.destination} lists transformer "${n}", which the config does not define${didYouMean(n, specs.map((s) => s.name))}`,
        { connector: ctx.destination, keyPath: 'spec.transformers' },
        specs.length ? `defined transformers: ${specs.map((s) => s.name).join(', ')}` : 'add a `kind: transformer` document',
      );
    }
    stages.push(await openTransformer(spec, ctx));
  }
  return composeStages(stages);
}

/** A stage as an object-mode Node Duplex (a Transform of sync messages). */
export function transformerStream(stage: MessageStage): Duplex {
  return Duplex.from(stage);
}

/** A TransformerSpec for a bare module path (e.g. `cq-pipe transform ./module.js`). */
export function moduleTransformerSpec(modulePath: string, baseDir = process.cwd(), spec: Record<string, unknown> = {}): TransformerSpec {
  return { name: modulePath, path: modulePath, spec, origin: { file: '<command line>', document: 1, baseDir } };
}
