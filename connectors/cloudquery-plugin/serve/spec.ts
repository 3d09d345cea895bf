/**
 * The spec a served plugin receives in `Init` and `TestConnection` (docs/plugins.md): the JSON of
 * the nested `spec:` map of the CloudQuery config, or `null` when it is empty. It is checked with
 * cq-pipe's own JSON schema of the connector (defaults applied, the destination's batch keys
 * included), then with the connector's own checks, as `cq-pipe validate-config` does. A connector
 * that is both a source and a destination is served as whichever kinds the spec fits.
 */
import type { ValidateFunction } from 'ajv';
import type { DestinationConnector, SourceConnector, SpecSchema, SpecProblem } from '../../../lib/connector.js';
import { ConfigError } from '../../../lib/errors.js';
import { schemaProblems } from '../../../lib/config/schema-problems.js';
import { formatKeyPath } from '../../../lib/config/load.js';
import { schemaValidator } from '../../../lib/config/precompiled.js';
import { splitEngineKeys, withEngineKeys, type BatchCaps } from '../../../lib/config/engine-keys.js';

export type ServedKind = 'source' | 'destination';

/** What one served plugin is: a built-in connector's source and/or destination descriptors. */
export interface ServedConnectors {
  /** the connector name (`postgresql`, `file`, `s3`, `test`) */
  name: string;
  source?: SourceConnector;
  destination?: DestinationConnector;
}

/** A spec accepted for each kind it fits. */
export interface AcceptedSpec {
  source?: Record<string, unknown>;
  destination?: { spec: Record<string, unknown>; batch: Partial<BatchCaps> };
  /** why the spec does not fit a kind that is served */
  rejected: Partial<Record<ServedKind, string>>;
}

const compiled = new WeakMap<object, ValidateFunction>();

/** the connector's validator, once per descriptor: the build's, or compiled with ajv (lib/config/precompiled.ts) */
function validatorFor(owner: object, schema: SpecSchema): ValidateFunction {
  let v = compiled.get(owner);
  if (!v) compiled.set(owner, (v = schemaValidator(schema as object)));
  return v;
}

/** The kinds served: both descriptors, or the one `--kind` names. */
export function kindsOf(c: ServedConnectors): ServedKind[] {
  return [...(c.source ? ['source' as const] : []), ...(c.destination ? ['destination' as const] : [])];
}

/** The JSON of `Init.spec`: an object, or `{}` for `null` / no bytes; anything else is a ConfigError. */
export function parseSpecBytes(bytes: Uint8Array, plugin: string): Record<string, unknown> {
  const text = new TextDecoder().decode(bytes).trim();
  if (text === '' || text === 'null') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the spec sent to plugin ${plugin} is not JSON: ${(err as Error).message}`, { connector: plugin, phase: 'init' });
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new ConfigError(
      `the spec sent to plugin ${plugin} must be a map, not ${Array.isArray(v) ? 'a list' : typeof v}`,
      { connector: plugin, phase: 'init' },
      'write the plugin settings as a map under spec:',
    );
  }
  return v as Record<string, unknown>;
}

function schemaOf(c: ServedConnectors, kind: ServedKind): SpecSchema {
  return kind === 'source' ? c.source!.configSchema : withEngineKeys(c.destination!.configSchema);
}

/** Problems of `raw` as a spec of one kind; the validated, defaulted spec when there are none. */
async function check(c: ServedConnectors, kind: ServedKind, raw: Record<string, unknown>): Promise<{ problems: SpecProblem[]; spec: Record<string, unknown> }> {
  const connector = kind === 'source' ? c.source! : c.destination!;
  const spec = structuredClone(raw);
  const validate = validatorFor(connector, schemaOf(c, kind));
  if (!validate(spec)) return { problems: schemaProblems(validate.errors ?? [], ['spec']), spec };
  const own = kind === 'destination' ? splitEngineKeys(spec).spec : spec;
  const problems = ((connector.validate as ((s: unknown) => SpecProblem[]) | undefined)?.(own) ?? []).map((p) => ({ ...p, keyPath: ['spec', ...p.keyPath] }));
  return { problems, spec };
}

function describe(problems: SpecProblem[]): string {
  return problems.map((p) => `${formatKeyPath(p.keyPath)}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`).join('; ');
}

/** Validate a spec for every served kind; a ConfigError listing every problem when it fits none. */
export async function acceptSpec(c: ServedConnectors, raw: Record<string, unknown>): Promise<AcceptedSpec> {
  const out: AcceptedSpec = { rejected: {} };
  const failed: string[] = [];
  for (const kind of kindsOf(c)) {
    const { problems, spec } = await check(c, kind, raw);
    if (problems.length) {
      out.rejected[kind] = describe(problems);
      failed.push(`as a ${kind}: ${describe(problems)}`);
      continue;
    }
    if (kind === 'source') out.source = spec;
    else out.destination = splitEngineKeys(spec);
  }
  if (!out.source && !out.destination) {
    throw new ConfigError(
      `invalid spec for cq-pipe's ${c.name} plugin: ${failed.join('; ')}`,
      { connector: c.name, phase: 'init' },
      `fix the spec: map of the plugin in the CloudQuery config (docs/config.md lists the ${c.name} settings)`,
    );
  }
  return out;
}

/**
 * `GetSpecSchema`: the connector's JSON schema (draft-07), `null` allowed as the CLI sends it for an
 * empty spec; both kinds' schemas under `anyOf` when the connector is served as both.
 */
export function specJsonSchema(c: ServedConnectors): string {
  const nullable = (s: SpecSchema) => ({ ...s, type: ['object', 'null'] });
  const kinds = kindsOf(c);
  const body = kinds.length === 1 ? nullable(schemaOf(c, kinds[0]!)) : { anyOf: kinds.map((k) => nullable(schemaOf(c, k))) };
  return JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...body });
}
