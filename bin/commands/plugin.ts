/**
 * `cq-pipe plugin <connector> serve|install` (docs/plugins.md, "Using cq-pipe's connectors from the
 * CloudQuery CLI"):
 *   serve   — serve a built-in connector as a CloudQuery plugin (protocol v3) with the flags the
 *             CloudQuery CLI passes to a `registry: local` plugin; logs go to stdout as the CLI
 *             reads them; SIGINT/SIGTERM stop the server, remove the socket and exit 0.
 *   install — write `<dir>/cq-pipe-<connector>[-<kind>]`, an executable whose first argument is
 *             `serve`, for a CloudQuery config's `registry: local` / `path:`.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../lib/errors.js';
import { LOG_FORMATS, type LogFormat, type LogLevel } from '../../lib/logger.js';
import { VERSION } from '../../lib/version.js';
import type { ServedConnectors, ServedKind } from '../../connectors/cloudquery-plugin/serve/spec.js';
import type { Network } from '../../connectors/cloudquery-plugin/serve/server.js';
import { reportError } from './common.js';

/** the built-in connectors served as CloudQuery plugins */
export const SERVED_CONNECTORS = ['postgresql', 'file', 's3', 'test'] as const;
const KINDS: readonly ServedKind[] = ['source', 'destination'];
const NETWORKS: readonly Network[] = ['unix', 'tcp'];
/** CloudQuery's level names; `trace` is cq-pipe's `debug` */
const LEVELS: Record<string, LogLevel> = { trace: 'debug', debug: 'debug', info: 'info', warn: 'warn', error: 'error' };

export const PLUGIN_OPTIONS = {
  network: { type: 'string' },
  address: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  kind: { type: 'string' },
  'no-sentry': { type: 'boolean' },
  license: { type: 'string' },
  'otel-endpoint': { type: 'string' },
  'otel-endpoint-insecure': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface PluginOptions {
  network?: string;
  address?: string;
  'log-level'?: string;
  'log-format'?: string;
  kind?: string;
  'no-sentry'?: boolean;
  license?: string;
  'otel-endpoint'?: string;
  'otel-endpoint-insecure'?: boolean;
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag} "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

/** The connector's source and destination descriptors (one of them with --kind). */
async function servedConnectors(name: string, kind: ServedKind | undefined): Promise<ServedConnectors> {
  // the registry loads the one connector asked for (connectors/index.ts)
  const { builtinRegistry } = await import('../registry.js');
  const cwd = process.cwd();
  const source = kind !== 'destination' && builtinRegistry.names.source.includes(name) ? await builtinRegistry.source(name, cwd) : undefined;
  const destination = kind !== 'source' && builtinRegistry.names.destination.includes(name) ? await builtinRegistry.destination(name, cwd) : undefined;
  if (!source && !destination) throw new UsageError(`cq-pipe's ${name} connector has no ${kind}`, `serve it without --kind ${kind}`);
  return { name, ...(source ? { source } : {}), ...(destination ? { destination } : {}) };
}

async function serve(name: string, o: PluginOptions, kind: ServedKind | undefined): Promise<number> {
  const network: Network = oneOf('network', o.network, NETWORKS, 'tcp');
  const format: LogFormat = oneOf('log-format', o['log-format'], LOG_FORMATS, 'text');
  const level = LEVELS[o['log-level'] ?? 'info'];
  if (!level) throw new UsageError(`--log-level "${o['log-level']}" is not one of ${Object.keys(LEVELS).join(', ')}`);
  // grpc-js and the stubs load only here: every other command starts without them; the server
  // modules and the connector load side by side
  const [{ pluginLogger }, { startPluginServer }, connectors] = await Promise.all([
    import('../../connectors/cloudquery-plugin/serve/log.js'),
    import('../../connectors/cloudquery-plugin/serve/server.js'),
    servedConnectors(name, kind),
  ]);
  const logger = pluginLogger({ level, format, module: `cq-pipe-${name}` });
  // accepted as the CloudQuery CLI passes them; cq-pipe sends no error reports or telemetry
  if (o['otel-endpoint']) logger.debug('--otel-endpoint is accepted and not used', { otel_endpoint: o['otel-endpoint'] });
  // listening before the socket exists: a signal right after it appears still removes it
  const signalled = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info(`received ${signal}: stopping`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  const server = await startPluginServer({ connectors, version: VERSION, network, address: o.address ?? 'localhost:7777', logger });
  await signalled;
  await server.stop();
  // a connection pool or timer left open must not keep the process: the exit code is 0 now
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}

/** single-quoted for sh */
const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function install(name: string, dir: string | undefined, kind: ServedKind | undefined): Promise<number> {
  if (!dir) throw new UsageError(`plugin ${name} install needs a directory`, `cq-pipe plugin ${name} install ./plugins`);
  await servedConnectors(name, kind);
  const entry = fileURLToPath(new URL('../cq-pipe.js', import.meta.url));
  const file = path.resolve(dir, `cq-pipe-${name}${kind ? `-${kind}` : ''}`);
  const args = ['plugin', name, ...(kind ? ['--kind', kind] : [])].map(shQuote).join(' ');
  const script = [
    '#!/bin/sh',
    `# cq-pipe's ${name} connector as a CloudQuery plugin (registry: local); written by \`cq-pipe plugin ${name} install\`, docs/plugins.md`,
    `exec ${shQuote(process.execPath)} ${shQuote(entry)} ${args} "$@"`,
    '',
  ].join('\n');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, script);
  await chmod(file, 0o755);
  process.stdout.write(`${file}\n`);
  return 0;
}

export async function pluginCommand(args: string[], o: PluginOptions): Promise<number> {
  try {
    const [name, action, dir, ...extra] = args;
    if (!name || !(SERVED_CONNECTORS as readonly string[]).includes(name)) {
      throw new UsageError(
        name ? `"${name}" is not a connector cq-pipe serves as a CloudQuery plugin` : 'plugin needs a connector name',
        `cq-pipe plugin <${SERVED_CONNECTORS.join('|')}> serve|install`,
      );
    }
    const kind = o.kind === undefined ? undefined : oneOf('kind', o.kind, KINDS, 'source');
    if (action === 'serve' && dir === undefined) return await serve(name, o, kind);
    if (action === 'install' && extra.length === 0) return await install(name, dir, kind);
    throw new UsageError(`plugin ${name}: expected "serve" or "install <dir>", got "${args.slice(1).join(' ')}"`, 'see cq-pipe --help');
  } catch (err) {
    return reportError(err, undefined);
  }
}
