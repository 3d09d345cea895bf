/**
 * Transformers: the registry of built-in transformers (`basic`, `jsonflattener`) and module paths,
 * config-time validation, and the factory the engine uses per destination (docs/transformers.md):
 *
 *   input ─► transformer 1 ─► transformer 2 ─► … ─► write/pk modes ─► BatchWriter
 *            (in the order of the destination's `transformers: [...]`)
 *
 * Every transformer is a descriptor (lib/transformer.ts): a built-in is imported on first use, a
 * module path gets the module descriptor (custom-module.ts). A transformer instance is a message
 * stage; several compose into one stage (no buffering between them, backpressure end to end).
 * `transformerStream` wraps a stage as an object-mode Node Duplex for your own
 * `stream.pipeline()`. Every destination gets its own instances, so per-table state (plans, table
 * renames) is per destination, as in CloudQuery.
 */
import { Duplex } from 'node:stream';
import type { TransformerSpec } from '../lib/config/types.js';
import type { SpecProblem } from '../lib/connector.js';
import { ConfigError } from '../lib/errors.js';
import { didYouMean } from '../lib/config/suggest.js';
import {
  composeStages,
  createStage,
  listedTransformers,
  specProblemsError,
  type MessageStage,
  type OpenStageContext,
  type TransformerDefinition,
} from '../lib/transformer.js';
import { looksLikeModulePath, moduleTransformer } from './custom-module.js';

export type { MessageStage } from '../lib/transformer.js';
export type { TransformContext, TransformFunction } from './custom-module.js';
export { composeStages };

// Built-ins are imported on first use, like connectors (connectors/index.ts): a run loads only the
// transformers its config names.
// biome-ignore lint/suspicious/noExplicitAny: each descriptor has its own spec type; config load checks the spec
const TRANSFORMER_LOADERS: Record<string, () => Promise<TransformerDefinition<any>>> = {
  basic: async () => (await import('./basic/index.js')).basic,
  jsonflattener: async () => (await import('./jsonflattener.js')).jsonflattener,
  test: async () => (await import('./test-transformer.js')).testTransformer,
};

/** names of the built-in transformers (their spec schemas are the descriptors' `configSchema`) */
export const TRANSFORMERS: Record<string, true> = Object.fromEntries(Object.keys(TRANSFORMER_LOADERS).map((k) => [k, true]));
export const BUILTIN_TRANSFORMERS = Object.keys(TRANSFORMERS);

/**
 * The descriptor a transformer `path` names: a built-in (also in CloudQuery's registry spelling,
 * `cloudquery/basic`) or a module path, resolved against `baseDir` when the module is loaded.
 * Anything else is a ConfigError with a did-you-mean.
 */
export async function resolveTransformer(path: string, baseDir: string): Promise<TransformerDefinition> {
  const bare = path.startsWith('cloudquery/') ? path.slice('cloudquery/'.length) : path;
  if (Object.hasOwn(TRANSFORMER_LOADERS, bare)) return TRANSFORMER_LOADERS[bare]!();
  if (looksLikeModulePath(path)) return moduleTransformer(path, baseDir);
  throw new ConfigError(
    `unknown transformer "${path}"${didYouMean(path, BUILTIN_TRANSFORMERS)}`,
    {},
    `built-in transformers: ${BUILTIN_TRANSFORMERS.join(', ')}; or a module path such as ./my-transform.js`,
  );
}

/** the destination an instance runs for, its logger, and the run's sync time and invocation id */
export type OpenTransformerContext = OpenStageContext;

/** resolveTransformer, with an unknown `path` as a problem at key `path` */
async function resolveOrProblem(path: string, baseDir: string): Promise<TransformerDefinition | SpecProblem> {
  try {
    return await resolveTransformer(path, baseDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { keyPath: ['path'], message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
}

function isProblem(x: TransformerDefinition | SpecProblem): x is SpecProblem {
  return 'keyPath' in x;
}

/**
 * Check a transformer document at config load: a built-in's spec against its schema (unknown
 * keys, unknown kinds with a did-you-mean), or that a module path loads and exports a function.
 * Key paths are relative to the document's `spec` (e.g. ['spec', 'transformations', 0, 'kind']).
 */
export async function validateTransformer(t: { path: string; spec?: Record<string, unknown>; baseDir: string }): Promise<SpecProblem[]> {
  const def = await resolveOrProblem(t.path, t.baseDir);
  if (isProblem(def)) return [def];
  return def.validate ? await def.validate(t.spec ?? {}) : [];
}

/** One transformer instance (a message stage) for one destination. */
export async function openTransformer(t: TransformerSpec, ctx: OpenTransformerContext): Promise<MessageStage> {
  const def = await resolveOrProblem(t.path, t.origin.baseDir);
  if (isProblem(def)) throw specProblemsError(t, [def]);
  return createStage(def, t, ctx);
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
  for (const t of listedTransformers(ctx.destination, names, specs)) stages.push(await openTransformer(t, ctx));
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
