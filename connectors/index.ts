/**
 * The registry of built-in connectors, by the name used in a config's `path`.
 * A `path` that is not a built-in name is loaded as a module (default export or `source` /
 * `destination` named export: a descriptor made with defineSource / defineDestination).
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DestinationConnector, SourceConnector } from '../lib/connector.js';
import { ConnectorNotFoundError, PluginUnavailableError, type ErrorContext } from '../lib/errors.js';
import type { PluginRef, Registry, StateBackendProvider } from '../lib/registry.js';
import type { LocateOptions } from './cloudquery-plugin/locate.js';

// Built-ins are imported on first use: a run loads only the connectors its config names (pg,
// parquet-wasm and the AWS SDK each add ~0.1 s to start-up).
// biome-ignore lint/suspicious/noExplicitAny: each descriptor has its own spec type; config load checks the spec
const SOURCE_LOADERS: Record<string, () => Promise<SourceConnector<any>>> = {
  test: async () => (await import('./test-source.js')).testSource,
  file: async () => (await import('./file/source.js')).fileSource,
  postgresql: async () => (await import('./postgresql/source.js')).postgresSource,
  s3: async () => (await import('./s3/source.js')).s3Source,
};

// biome-ignore lint/suspicious/noExplicitAny: each descriptor has its own spec type; config load checks the spec
const DESTINATION_LOADERS: Record<string, () => Promise<DestinationConnector<any>>> = {
  file: async () => (await import('./file/destination.js')).fileDestination,
  memory: async () => (await import('./memory.js')).memoryDestination,
  test: async () => (await import('./test-destination.js')).testDestination,
  postgresql: async () => (await import('./postgresql/destination.js')).postgresDestination,
  s3: async () => (await import('./s3/destination.js')).s3Destination,
};

// State backends, by connection scheme; each connector owns the backend of its store.
const STATE_LOADERS: Record<string, () => Promise<StateBackendProvider>> = {
  'postgres://': async () => (await import('./postgresql/state.js')).postgresStateBackend,
  'postgresql://': async () => (await import('./postgresql/state.js')).postgresStateBackend,
  's3://': async () => (await import('./s3/state.js')).s3StateBackend,
  'file://': async () => (await import('./file/state.js')).fileStateBackend,
  'memory://': async () => (await import('./test-destination.js')).memoryStateBackend,
};

/** The state backend serving a connection string's scheme, or undefined. */
export async function resolveStateBackend(connection: string): Promise<StateBackendProvider | undefined> {
  // libpq's keyword/value form (`host=… dbname=…`) is Postgres too
  const scheme = /^\s*[A-Za-z_]+\s*=/.test(connection) ? 'postgres://' : Object.keys(STATE_LOADERS).find((s) => connection.startsWith(s));
  return scheme ? STATE_LOADERS[scheme]!() : undefined;
}

/** names of the built-in sources and destinations */
export const SOURCES: Record<string, true> = Object.fromEntries(Object.keys(SOURCE_LOADERS).map((k) => [k, true]));
export const DESTINATIONS: Record<string, true> = Object.fromEntries(Object.keys(DESTINATION_LOADERS).map((k) => [k, true]));

/** a JS/TS module file by its name (`registry: local` names an executable otherwise) */
function isJsModuleFile(p: string): boolean {
  return /\.(m?js|cjs|ts)$/.test(p);
}

function looksLikeModulePath(p: string): boolean {
  return p.startsWith('.') || p.startsWith('/') || isJsModuleFile(p);
}

async function loadModule(p: string, baseDir: string): Promise<Record<string, unknown>> {
  const url = p.startsWith('/') || p.startsWith('.') ? pathToFileURL(path.resolve(baseDir, p)).href : p;
  return (await import(url)) as Record<string, unknown>;
}

/** CloudQuery's plugin registries (`registry:` of a source or destination document). */
export const PLUGIN_REGISTRIES = ['cloudquery', 'github', 'local', 'grpc', 'docker'] as const;

/** CloudQuery's team of the plugins cq-pipe has built in (`path: cloudquery/postgresql`). */
const BUILTIN_TEAM = 'cloudquery/';

function unavailable(kind: string, p: string, ref: PluginRef, known: readonly string[], context: ErrorContext): PluginUnavailableError {
  const registry = ref.registry ?? 'cloudquery';
  const what = `CloudQuery ${kind} plugin "${p}"${ref.version ? ` ${ref.version}` : ''} (registry ${registry})`;
  return new PluginUnavailableError(
    `${what} is not available: cq-pipe has no built-in connector of that name and does not run ${kind} plugins of registry ${registry}`,
    `use a built-in ${kind} (${known.join(', ')}; also as ${BUILTIN_TEAM}<name>) or a JS/TS module (path: ./my-connector.js); see docs/plugins.md`,
    context,
  );
}

/** a spawned plugin's `--otel-endpoint` flags from its source's or destination's `otel_endpoint` */
function otelOf(ref: PluginRef): { otelEndpoint?: string; otelEndpointInsecure?: boolean } {
  return ref.otel_endpoint ? { otelEndpoint: ref.otel_endpoint, otelEndpointInsecure: ref.otel_endpoint_insecure === true } : {};
}

/**
 * A CloudQuery plugin source cq-pipe hosts (docs/plugins.md): `registry: grpc` dials `path`
 * (`host:port`), `registry: local` spawns the executable at `path` (relative to the working
 * directory, as the CloudQuery CLI does). The gRPC client loads only when a config uses one.
 */
async function pluginSourceFor(p: string, ref: PluginRef, context: ErrorContext): Promise<SourceConnector | undefined> {
  if (ref.registry === 'grpc') return (await import('./cloudquery-plugin/source.js')).pluginSource({ address: p });
  if (ref.registry === 'local' && !isJsModuleFile(p)) {
    return (await import('./cloudquery-plugin/spawn.js')).localPluginSource(await localExecutable('source', p, context), otelOf(ref));
  }
  return undefined;
}

/**
 * The executable of a `registry: local` plugin (relative to the working directory, as the CloudQuery
 * CLI resolves it), checked when the config is loaded so `validate-config` names a missing one.
 */
async function localExecutable(kind: string, p: string, context: ErrorContext): Promise<string> {
  const file = path.resolve(process.cwd(), p);
  const why = await stat(file).then(
    async (st) =>
      st.isFile()
        ? access(file, constants.X_OK).then(
            () => undefined,
            () => 'is not executable',
          )
        : 'is not a file',
    () => 'does not exist',
  );
  if (!why) return file;
  return Promise.reject(
    new PluginUnavailableError(
      `the ${kind} plugin executable ${file} (registry local) ${why}`,
      'registry local runs the plugin binary at path, relative to the working directory: check the path, or chmod +x it',
      context,
    ),
  );
}

/**
 * A CloudQuery plugin destination cq-pipe hosts (docs/plugins.md): `registry: grpc` dials `path`,
 * `registry: local` spawns the executable at `path`; the destination's write and PK modes decide the
 * schema spelling it receives, as from the CloudQuery CLI.
 */
async function pluginDestinationFor(p: string, ref: PluginRef, context: ErrorContext): Promise<DestinationConnector | undefined> {
  const modes = { writeMode: ref.write_mode, pkMode: ref.pk_mode };
  if (ref.registry === 'grpc') return (await import('./cloudquery-plugin/destination.js')).pluginDestination({ address: p, modes });
  if (ref.registry === 'local' && !isJsModuleFile(p)) {
    return (await import('./cloudquery-plugin/spawn.js')).localPluginDestination(await localExecutable('destination', p, context), { modes, ...otelOf(ref) });
  }
  return undefined;
}

/**
 * A Hub (`registry: cloudquery`, the default) or GitHub plugin `team/name`: its binary from the
 * CloudQuery CLI's plugin cache, or downloaded there on first use (cloudquery-plugin/locate.ts).
 */
async function hubPlugin(kind: 'source' | 'destination', p: string, ref: PluginRef, plugins: LocateOptions, context: ErrorContext) {
  const { locateHubPlugin, fetchingFirst } = await import('./cloudquery-plugin/locate.js');
  const registry = ref.registry === 'github' ? 'github' : 'cloudquery';
  const located = await locateHubPlugin({ kind, path: p, registry, version: ref.version }, plugins, context);
  const spawn = await import('./cloudquery-plugin/spawn.js');
  if (kind === 'source') return fetchingFirst(spawn.localPluginSource(located.binary, otelOf(ref)), located.fetch);
  const modes = { writeMode: ref.write_mode, pkMode: ref.pk_mode };
  return fetchingFirst(spawn.localPluginDestination(located.binary, { modes, ...otelOf(ref) }), located.fetch);
}

/** `registry: docker`: the image run with the `docker` command (cloudquery-plugin/docker.ts), when docker is on PATH. */
async function dockerPlugin(kind: string, image: string, ref: PluginRef, context: ErrorContext) {
  const { dockerOnPath, dockerPluginDestination, dockerPluginSource, dockerServerProblem } = await import('./cloudquery-plugin/docker.js');
  const docker = await dockerOnPath();
  const problem = docker ? await dockerServerProblem(docker) : 'the docker command is not on PATH';
  if (docker && !problem) {
    if (kind === 'source') return dockerPluginSource(image, { docker, ...otelOf(ref) });
    return dockerPluginDestination(image, { docker, modes: { writeMode: ref.write_mode, pkMode: ref.pk_mode }, ...otelOf(ref) });
  }
  throw new PluginUnavailableError(
    `CloudQuery ${kind} plugin "${image}" (registry docker) is not available: ${problem}`,
    `install Docker, or run the image yourself (docker run -p 7777:7777 ${image} serve --address 0.0.0.0:7777) ` +
      'and use registry: grpc with path: localhost:7777; see docs/plugins.md',
    context,
  );
}

/**
 * A built-in by name or as `cloudquery/<name>` (`Object.hasOwn`: `constructor` is not a connector),
 * or a module's descriptor. CloudQuery plugins cq-pipe cannot provide (`team/name`, `registry:
 * grpc | docker`, a `local` executable) are a PluginUnavailableError naming the plugin and version.
 */
async function resolve<C extends SourceConnector | DestinationConnector>(
  kind: C['kind'],
  loaders: Record<string, () => Promise<C>>,
  p: string,
  baseDir: string,
  ref: PluginRef,
  context: ErrorContext,
  plugins: LocateOptions = {},
): Promise<C> {
  const known = Object.keys(loaders);
  const plugin = kind === 'source' ? await pluginSourceFor(p, ref, context) : await pluginDestinationFor(p, ref, context);
  if (plugin) return plugin as C;
  const remote = ref.registry === 'grpc' || ref.registry === 'docker';
  const bare = p.startsWith(BUILTIN_TEAM) ? p.slice(BUILTIN_TEAM.length) : p;
  if (!remote && ref.registry !== 'local' && Object.hasOwn(loaders, bare)) return loaders[bare]!();
  if (ref.registry === 'docker') return (await dockerPlugin(kind, p, ref, context)) as C;
  // `registry: local` names an executable, unless the path is a JS/TS module file
  if (remote || (ref.registry === 'local' && !isJsModuleFile(p))) throw unavailable(kind, p, ref, known, context);
  if (!looksLikeModulePath(p)) {
    if (/^[\w.-]+\/[\w.-]+$/.test(p)) return (await hubPlugin(kind, p, ref, plugins, context)) as C;
    throw new ConnectorNotFoundError(p, known, context);
  }
  let mod: Record<string, unknown>;
  try {
    mod = await loadModule(p, baseDir);
  } catch (err) {
    throw new ConnectorNotFoundError(p, known, context, err);
  }
  const c = (mod[kind] ?? mod.default) as C | undefined;
  if (!c || c.kind !== kind) {
    const define = kind === 'source' ? 'defineSource' : 'defineDestination';
    throw new ConnectorNotFoundError(p, known, { ...context, phase: `module has no ${kind} descriptor (export default ${define}({...}))` });
  }
  return c;
}

/** `plugins`: where Hub plugins are cached (CloudQuery's `--cq-dir`, default `.cq`; docs/plugins.md) */
export async function resolveSource(
  p: string,
  baseDir: string,
  ref: PluginRef = {},
  context: ErrorContext = {},
  plugins: LocateOptions = {},
): Promise<SourceConnector> {
  // CloudQuery's test source: its tables and keys (connectors/cloudquery-test-tables.ts)
  if (p === `${BUILTIN_TEAM}test` && !['grpc', 'docker', 'local'].includes(ref.registry ?? '')) {
    return (await import('./test-source.js')).cloudqueryTestSource;
  }
  return resolve<SourceConnector>('source', SOURCE_LOADERS, p, baseDir, ref, context, plugins);
}

export function resolveDestination(
  p: string,
  baseDir: string,
  ref: PluginRef = {},
  context: ErrorContext = {},
  plugins: LocateOptions = {},
): Promise<DestinationConnector> {
  return resolve<DestinationConnector>('destination', DESTINATION_LOADERS, p, baseDir, ref, context, plugins);
}

export type ConnectorRegistry = Omit<Registry, 'transformer' | 'names'> & { names: Pick<Registry['names'], 'source' | 'destination' | 'stateScheme'> };

/** The connector half of a registry (lib/registry.ts), with Hub plugins cached under `plugins.cqDir`. */
export function connectorRegistryWith(plugins: LocateOptions): ConnectorRegistry {
  return {
    names: { source: Object.keys(SOURCE_LOADERS), destination: Object.keys(DESTINATION_LOADERS), stateScheme: Object.keys(STATE_LOADERS) },
    source: (p, baseDir, ref) => resolveSource(p, baseDir, ref, {}, plugins),
    destination: (p, baseDir, ref) => resolveDestination(p, baseDir, ref, {}, plugins),
    stateBackend: resolveStateBackend,
  };
}

/** The connector half of a registry (lib/registry.ts); the package entry adds the transformers. */
export const connectorRegistry: ConnectorRegistry = connectorRegistryWith({});
