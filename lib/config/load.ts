/**
 * loadConfig: files/directories → one validated, frozen LoadedConfig (docs/config.md).
 * Every problem in every document is collected and reported in one ConfigError (exit 2), each
 * naming file:line, document, key path and, for near misses, a suggestion.
 */
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ConfigError, CqPipeError, PluginUnavailableError } from '../errors.js';
import type { DestinationConnector, SourceConnector, SpecProblem, SpecSchema } from '../connector.js';
import type { Registry } from '../registry.js';
import type { TransformerDefinition } from '../transformer.js';
import type { DestinationSpec, LoadedConfig, Origin, SourceSpec, TransformerSpec } from './types.js';
import { KIND_SCHEMAS, documentSchema, type Kind } from './schema.js';
import { schemaValidator } from './precompiled.js';
import { PLUGIN_REF } from './interpolate.js';
import { didYouMean } from './suggest.js';
import { schemaProblems } from './schema-problems.js';
import { expandPaths, readDocuments, type ConfigDocument, type KeyPath } from './yaml-docs.js';
import { splitEngineKeys, withEngineKeys } from './engine-keys.js';

export interface LoadOptions {
  /** where connector and transformer `path`s are looked up (the CLI injects the built-ins) */
  registry: Registry;
  /** every source must name destinations that exist (sync, migrate, validate-config) */
  requireDestinations?: boolean;
  /** environment for ${VAR}; defaults to process.env */
  env?: NodeJS.ProcessEnv;
  /** directory `${file:}` paths resolve against; defaults to the working directory (as CloudQuery) */
  cwd?: string;
  /** "now" for `${time:}`; defaults to the current time */
  now?: Date;
}

export interface ConfigProblem {
  file: string;
  document?: number;
  line?: number;
  keyPath?: string;
  message: string;
  hint?: string;
}

export function formatKeyPath(kp: KeyPath): string {
  let s = '';
  for (const k of kp) s += typeof k === 'number' ? `[${k}]` : s ? `.${k}` : k;
  return s;
}

function formatProblem(p: ConfigProblem): string {
  const where = `${p.file}${p.line !== undefined ? `:${p.line}` : ''}${p.document !== undefined ? ` (document ${p.document})` : ''}`;
  return `${where}: ${p.keyPath ? `${p.keyPath}: ` : ''}${p.message}`;
}

/** One error for all problems; its context is the first problem's. */
export class ConfigProblems extends ConfigError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    const first = problems[0]!;
    const message =
      problems.length === 1
        ? formatProblem(first)
        : `${problems.length} problems in config:\n${problems.map((p) => `  - ${formatProblem(p)}${p.hint ? ` — ${p.hint}` : ''}`).join('\n')}`;
    super(message, { file: first.file, line: first.line, document: first.document, keyPath: first.keyPath }, problems.length === 1 ? first.hint : undefined);
    this.problems = problems;
  }

  /** the message already names file, line, document and key of every problem */
  override where(): string {
    return '';
  }
}

// validators from the build (precompiled.ts), looked up on first use, per kind; ajv loads only
// for a schema the build did not see (start-up time of every command)
const compiledKinds = new Map<Kind, ValidateFunction>();
const kindValidator = (k: Kind): ValidateFunction => {
  let v = compiledKinds.get(k);
  if (!v) compiledKinds.set(k, (v = schemaValidator(KIND_SCHEMAS[k])));
  return v;
};
let compiledDoc: ValidateFunction | undefined;
const docValidator = (): ValidateFunction => (compiledDoc ??= schemaValidator(documentSchema));
const connectorValidators = new WeakMap<object, ValidateFunction>();

/** ajv errors → problems, relative to `prefix` inside the document */
function ajvProblems(errors: ErrorObject[], doc: ConfigDocument, prefix: KeyPath): ConfigProblem[] {
  const versionWords = (e: ErrorObject, kp: KeyPath) =>
    e.keyword === 'pattern' && kp.length === 2 && kp[1] === 'version'
      ? { message: `${JSON.stringify(e.data)} is not a CloudQuery version: use v and the version, e.g. v8.6.0` }
      : undefined;
  return schemaProblems(errors, prefix, versionWords).map((p) => ({
    file: doc.file,
    document: doc.index,
    line: doc.lineOf(p.keyPath),
    keyPath: formatKeyPath(p.keyPath),
    message: p.message,
    hint: p.hint,
  }));
}

interface Entry {
  kind: Kind;
  doc: ConfigDocument;
  spec: Record<string, unknown>;
}

export async function loadConfig(paths: string[], opts: LoadOptions): Promise<LoadedConfig> {
  const registry = opts.registry;
  const env = opts.env ?? process.env;
  const problems: ConfigProblem[] = [];
  const secrets = new Set<string>();
  if (paths.length === 0) throw new ConfigError('no config files given', {}, 'pass one or more YAML files or directories');

  const { files, problems: pathProblems } = await expandPaths(paths);
  for (const p of pathProblems) problems.push({ file: p.file, message: p.message });
  const entries: Entry[] = [];
  // names of documents that failed validation: still "defined" for cross-reference checks
  const invalidNames: Record<Kind, Set<string>> = { source: new Set(), destination: new Set(), transformer: new Set() };
  for (const file of files) {
    const read = await readDocuments(file, { env, cwd: opts.cwd, now: opts.now });
    const { docs } = read;
    for (const p of read.problems) problems.push({ ...p, keyPath: p.keyPath ? formatKeyPath(p.keyPath) : undefined });
    for (const s of read.secrets) if (s.length >= 4) secrets.add(s);
    for (const doc of docs) {
      const validateDoc = docValidator();
      if (!validateDoc(doc.value)) {
        problems.push(...ajvProblems(validateDoc.errors ?? [], doc, []));
        continue;
      }
      const raw = doc.value as { kind: Kind; spec: Record<string, unknown> };
      const spec = raw.spec;
      const validate = kindValidator(raw.kind);
      if (!validate(spec)) {
        problems.push(...ajvProblems(validate.errors ?? [], doc, ['spec']));
        if (typeof (spec as Record<string, unknown>).name === 'string') invalidNames[raw.kind].add((spec as Record<string, unknown>).name as string);
        continue;
      }
      entries.push({ kind: raw.kind, doc, spec });
    }
  }
  if (files.length > 0 && entries.length === 0 && problems.length === 0) {
    problems.push({ file: files.join(', '), message: 'no source, destination or transformer documents found' });
  }

  const problemAt = (e: Entry, kp: KeyPath, message: string, hint?: string): void => {
    problems.push({ file: e.doc.file, document: e.doc.index, line: e.doc.lineOf(kp), keyPath: formatKeyPath(kp), message, hint });
  };

  // names are unique per kind
  const byKind: Record<Kind, Map<string, Entry>> = { source: new Map(), destination: new Map(), transformer: new Map() };
  for (const e of entries) {
    const name = e.spec.name as string;
    const prior = byKind[e.kind].get(name);
    if (prior)
      problemAt(
        e,
        ['spec', 'name'],
        `${e.kind} name "${name}" is already used in ${prior.doc.file} (document ${prior.doc.index})`,
        `${e.kind} names must be unique`,
      );
    else byKind[e.kind].set(name, e);
  }

  // @@plugins.<destination>.connection: the state connection the destination's connector derives
  // from its spec (postgres://…, s3://…, file://…), or a plugin destination's connection_string
  const referenced = entries.some((e) => e.kind !== 'transformer' && JSON.stringify(e.spec).includes('@@plugins.'));
  const stateConnections = new Map<string, DestinationConnector['stateConnection'] | null>();
  if (referenced) {
    for (const e of entries) {
      if (e.kind !== 'destination') continue;
      // a connector that does not load is reported below, with the other connector problems
      const baseDir = path.dirname(path.resolve(e.doc.file));
      const connector = await registry.destination(e.spec.path as string, baseDir, pluginRef(e.spec)).catch(() => undefined);
      stateConnections.set(e.spec.name as string, connector?.stateConnection?.bind(connector) ?? null);
    }
  }
  const connectionOf = (name: string, stack: string[]): string | { error: string } => {
    const d = byKind.destination.get(name);
    if (!d) return { error: `@@plugins.${name}.connection names no destination${didYouMean(name, [...byKind.destination.keys()])}` };
    if (stack.includes(name)) return { error: `@@plugins references form a cycle: ${[...stack, name].join(' → ')}` };
    const inner = (d.spec.spec ?? {}) as Record<string, unknown>;
    const derive = stateConnections.get(name);
    const conn = derive ? derive(inner) : (inner.connection_string ?? inner.connection);
    if (typeof conn !== 'string') {
      const what = derive ? `the ${d.spec.path as string} destination "${name}" names no store to keep state in` : `destination "${name}" cannot hold state`;
      const fix = 'reference a postgresql, s3 or file destination, or a plugin destination with spec.connection_string';
      return { error: `@@plugins.${name}.connection: ${what}; ${fix}` };
    }
    return resolveRefs(conn, [...stack, name]);
  };
  const resolveRefs = (s: string, stack: string[]): string | { error: string } => {
    let err: string | undefined;
    const out = s.replace(PLUGIN_REF, (_w, name: string) => {
      const v = connectionOf(name, stack);
      if (typeof v === 'string') return v;
      err ??= v.error;
      return _w;
    });
    return err ? { error: err } : out;
  };
  for (const e of entries) {
    if (e.kind === 'transformer') continue;
    const self = e.kind === 'destination' ? [e.spec.name as string] : [];
    const walk = (v: unknown, kp: KeyPath): unknown => {
      if (typeof v === 'string') {
        if (!v.includes('@@plugins.')) return v;
        const r = resolveRefs(v, self);
        if (typeof r === 'string') {
          secrets.add(r);
          return r;
        }
        problemAt(e, kp, r.error);
        return v;
      }
      if (Array.isArray(v)) return v.map((x, i) => walk(x, [...kp, i]));
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...kp, k])]));
      return v;
    };
    e.spec = walk(e.spec, ['spec']) as Record<string, unknown>;
  }

  // connectors and their own specs
  const sources: SourceSpec[] = [];
  const destinations: DestinationSpec[] = [];
  const transformers: TransformerSpec[] = [];
  for (const e of entries) {
    const origin: Origin = Object.freeze({ file: e.doc.file, document: e.doc.index, baseDir: path.dirname(path.resolve(e.doc.file)) });
    const p = e.spec.path as string;
    if (e.kind === 'transformer') {
      let def: TransformerDefinition;
      try {
        def = await registry.transformer(p, origin.baseDir);
      } catch (err) {
        const ce = err instanceof CqPipeError ? err : undefined;
        problemAt(e, ['spec', 'path'], ce?.message ?? String(err), ce?.hint);
        continue;
      }
      const tspec = (e.spec.spec ?? {}) as Record<string, unknown>;
      if (def.configSchema && !def.validate) {
        const validate = compileConnectorSchema(def, def.configSchema);
        if (typeof validate === 'string') {
          problemAt(e, ['spec', 'path'], `transformer "${p}" has an invalid config schema: ${validate}`);
          continue;
        }
        if (!validate(structuredClone(tspec))) {
          problems.push(...ajvProblems(validate.errors ?? [], e.doc, ['spec', 'spec']));
          continue;
        }
      }
      // transformer problems are relative to the document's spec (['spec', 'transformations', 0, …])
      const own = (await def.validate?.(tspec)) ?? [];
      for (const sp of own) problemAt(e, ['spec', ...sp.keyPath], sp.message, sp.hint);
      if (own.length === 0) transformers.push({ name: e.spec.name as string, path: p, spec: tspec, origin });
      continue;
    }
    let connector: SourceConnector | DestinationConnector;
    try {
      const ref = pluginRef(e.spec);
      connector = e.kind === 'source' ? await registry.source(p, origin.baseDir, ref) : await registry.destination(p, origin.baseDir, ref);
    } catch (err) {
      if (err instanceof PluginUnavailableError) {
        problemAt(e, ['spec', 'path'], err.message, err.hint);
        continue;
      }
      const known = e.kind === 'source' ? registry.names.source : registry.names.destination;
      if (known.includes(p)) {
        // a built-in whose module failed to load (a broken install, a missing dependency): say so
        problemAt(
          e,
          ['spec', 'path'],
          `the built-in ${e.kind} connector "${p}" failed to load: ${String((err as Error)?.message ?? err).split('\n')[0]}`,
          'reinstall cq-pipe (npm ci)',
        );
        continue;
      }
      const cause = err instanceof CqPipeError && err.cause instanceof Error ? `: ${err.cause.message.split('\n')[0]}` : '';
      problemAt(
        e,
        ['spec', 'path'],
        `unknown ${e.kind} connector "${p}"${didYouMean(p, known)}${cause}`,
        `built-in ${e.kind}s: ${known.join(', ')}; or a module path such as ./my-connector.js`,
      );
      continue;
    }
    // CloudQuery refuses this in its spec reader, before any plugin spec is looked at
    const groupProblem = connector.kind === 'destination' ? syncGroupProblem(e.spec, connector.capabilities.writeModes) : undefined;
    if (groupProblem) {
      problemAt(
        e,
        ['spec', 'sync_group_id'],
        groupProblem,
        'set write_mode: overwrite or append — each sync group keeps its own rows, and delete-stale would delete the rows of earlier groups',
      );
    }
    let inner = structuredClone(e.spec.spec ?? {}) as Record<string, unknown>;
    // a destination's schema gets the engine's keys (batch caps): connectors never declare them
    const validate = compileConnectorSchema(connector, connector.kind === 'destination' ? withEngineKeys(connector.configSchema) : connector.configSchema);
    if (typeof validate === 'string') {
      problemAt(e, ['spec', 'path'], `connector "${p}" has an invalid config schema: ${validate}`);
      continue;
    }
    if (!validate(inner)) {
      problems.push(...ajvProblems(validate.errors ?? [], e.doc, ['spec', 'spec']));
      continue;
    }
    const engine = connector.kind === 'destination' ? splitEngineKeys(inner) : undefined;
    if (engine) inner = engine.spec;
    const own = (connector.validate as ((s: unknown) => SpecProblem[]) | undefined)?.(inner) ?? [];
    for (const sp of own) problemAt(e, ['spec', 'spec', ...sp.keyPath], sp.message, sp.hint);
    if (own.length > 0) continue;
    if (e.kind === 'source') {
      const s = e.spec;
      const conn = (s.backend_options as { connection?: string } | undefined)?.connection;
      if (conn !== undefined && !conn.includes('@@plugins.')) {
        // a URL of a state backend, or libpq's keyword/value form (host=… dbname=…: Postgres)
        if (!/^(postgres|postgresql|file|s3|memory):\/\//.test(conn) && !/^\s*[A-Za-z_]+\s*=/.test(conn)) {
          problemAt(
            e,
            ['spec', 'backend_options', 'connection'],
            `"${conn.split(':')[0]}" is not a state backend`,
            'use postgres://…, @@plugins.<postgres destination>.connection, s3://bucket/prefix or file://./dir',
          );
        }
      }
      sources.push({
        name: s.name as string,
        path: p,
        ...pluginRef(s),
        tables: s.tables as string[],
        skip_tables: s.skip_tables as string[],
        destinations: s.destinations as string[],
        deterministic_cq_id: s.deterministic_cq_id as boolean,
        ...otelKeys(s),
        ...(s.backend_options ? { backend_options: s.backend_options as SourceSpec['backend_options'] } : {}),
        spec: inner,
        origin,
      });
    } else {
      const d = e.spec;
      const modes = (connector as DestinationConnector).capabilities.writeModes;
      let writeMode = d.write_mode as DestinationSpec['write_mode'] | undefined;
      if (writeMode === undefined) {
        writeMode = modes.includes('overwrite-delete-stale') ? 'overwrite-delete-stale' : modes[0]!;
      } else if (!modes.includes(writeMode)) {
        problemAt(e, ['spec', 'write_mode'], `the ${p} destination does not support write_mode "${writeMode}"`, `supported: ${modes.join(', ')}`);
        continue;
      }
      // sync_group_id with overwrite-delete-stale was refused before the spec checks (syncGroupProblem)
      if (syncGroupProblem(d, modes)) continue;
      destinations.push({
        name: d.name as string,
        path: p,
        ...pluginRef(d),
        write_mode: writeMode,
        migrate_mode: d.migrate_mode as DestinationSpec['migrate_mode'],
        pk_mode: d.pk_mode as DestinationSpec['pk_mode'],
        ...(typeof d.sync_group_id === 'string' && d.sync_group_id !== '' ? { sync_group_id: d.sync_group_id } : {}),
        ...(d.send_sync_summary === true ? { send_sync_summary: true } : {}),
        transformers: d.transformers as string[],
        ...otelKeys(d),
        spec: inner,
        batch: engine?.batch ?? {},
        origin,
      });
    }
  }

  // cross references
  const destNames = [...byKind.destination.keys()];
  const transformerNames = [...byKind.transformer.keys()];
  for (const e of entries) {
    if (e.kind === 'source' && opts.requireDestinations) {
      const ds = e.spec.destinations as string[];
      if (ds.length === 0)
        problemAt(
          e,
          ['spec', 'destinations'],
          `source "${e.spec.name as string}" has no destinations`,
          destNames.length ? `add destinations: [${destNames.join(', ')}]` : 'add a destination document and list it under destinations',
        );
      ds.forEach((n, i) => {
        if (!byKind.destination.has(n) && !invalidNames.destination.has(n))
          problemAt(
            e,
            ['spec', 'destinations', i],
            `destination "${n}" is not defined${didYouMean(n, destNames)}`,
            destNames.length ? `defined destinations: ${destNames.join(', ')}` : 'no destination documents were loaded',
          );
      });
    }
    if (e.kind === 'destination') {
      (e.spec.transformers as string[]).forEach((n, i) => {
        if (!byKind.transformer.has(n) && !invalidNames.transformer.has(n))
          problemAt(e, ['spec', 'transformers', i], `transformer "${n}" is not defined${didYouMean(n, transformerNames)}`);
      });
    }
  }

  if (problems.length > 0) throw new ConfigProblems(problems);
  return withRegistry(deepFreeze({ sources, destinations, transformers, secrets: [...secrets] }), registry);
}

/**
 * CloudQuery's check and wording (cli/internal/specs/v0/spec_reader.go): a sync group with
 * `overwrite-delete-stale`, the destination's default write mode included. Undefined when fine.
 */
function syncGroupProblem(d: Record<string, unknown>, modes: readonly string[]): string | undefined {
  if (typeof d.sync_group_id !== 'string' || d.sync_group_id === '') return undefined;
  const writeMode = (d.write_mode as string | undefined) ?? (modes.includes('overwrite-delete-stale') ? 'overwrite-delete-stale' : modes[0]);
  return writeMode === 'overwrite-delete-stale' ? `destination ${d.name as string}: sync_group_id is not supported with write_mode: ${writeMode}` : undefined;
}

/** `registry` and `version` as the document gives them (absent keys stay absent). */
function pluginRef(spec: Record<string, unknown>): { registry?: string; version?: string } {
  return {
    ...(typeof spec.registry === 'string' ? { registry: spec.registry } : {}),
    ...(typeof spec.version === 'string' ? { version: spec.version } : {}),
  };
}

/** Attach the registry a config was loaded against (the config's data stays deep-frozen; the registry is not frozen). */
export function withRegistry<T extends object>(config: T, registry: Registry): T & { readonly registry: Registry } {
  const c = Object.isFrozen(config) ? { ...config } : config;
  Object.defineProperty(c, 'registry', { value: registry, enumerable: true });
  return Object.freeze(c) as T & { readonly registry: Registry };
}

/** A connector's or transformer's validator, once per descriptor (precompiled.ts); a string when its schema does not compile. */
function compileConnectorSchema(owner: object, schema: SpecSchema): ValidateFunction | string {
  let validate = connectorValidators.get(owner);
  if (!validate) {
    try {
      validate = schemaValidator(schema as object);
    } catch (err) {
      return (err as Error).message;
    }
    connectorValidators.set(owner, validate);
  }
  return validate;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** `otel_endpoint` / `otel_endpoint_insecure` when set (an empty endpoint is none, as in CloudQuery) */
function otelKeys(s: Record<string, unknown>): Pick<SourceSpec, 'otel_endpoint' | 'otel_endpoint_insecure'> {
  if (typeof s.otel_endpoint !== 'string' || s.otel_endpoint === '') return {};
  return { otel_endpoint: s.otel_endpoint, ...(s.otel_endpoint_insecure === true ? { otel_endpoint_insecure: true } : {}) };
}
