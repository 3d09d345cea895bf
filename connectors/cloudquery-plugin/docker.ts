/**
 * `registry: docker`, `path: image:tag`: run the plugin image as the CloudQuery CLI does
 * (plugin-pb-go managedplugin/plugin.go startDockerPlugin; docs/plugins.md), through the `docker`
 * command: `docker run --detach --tty` with `serve --log-level <lvl> --log-format json --network tcp
 * --address 0.0.0.0:7777` (and `--otel-endpoint` as for a local plugin), container port 7777/tcp published to a random host port (on 127.0.0.1
 * only), `docker port` for that port, then dial it. The container's log (`docker logs --follow`)
 * is forwarded into cq-pipe's log and its warn/error lines counted; at the end `docker stop`
 * (10 s grace, as the CLI) and `docker rm`. No environment is passed into the container, as the CLI
 * outside CloudQuery Cloud.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  defineDestination,
  defineSource,
  type ConnectorContext,
  type DestinationConnector,
  type LogCounts,
  type SourceConnector,
} from '../../lib/connector.js';
import { DestinationWriteError, SourceReadError } from '../../lib/errors.js';
import type { CliModes } from './cli-schema.js';
import { cliModes, openPluginDestination, PLUGIN_DESTINATION_CAPABILITIES, type PluginDestinationSpec } from './destination.js';
import { forwardLogLine, otelArgs, pluginEnv, type SpawnOptions } from './spawn.js';
import { openPluginSource, type PluginSpec } from './source.js';

/** The port the plugin listens on inside the container (the CLI's). */
export const CONTAINER_PORT = '7777/tcp';

/** The `docker` executable on PATH, or undefined. */
export async function dockerOnPath(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const names = process.platform === 'win32' ? ['docker.exe'] : ['docker'];
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const n of names) {
      const file = path.join(dir, n);
      try {
        await access(file, constants.X_OK);
        if ((await stat(file)).isFile()) return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Why `docker` cannot run containers (its daemon does not answer `docker version`), or undefined when it can. */
export async function dockerServerProblem(bin: string): Promise<string | undefined> {
  const r = await docker(bin, ['version', '--format', '{{.Server.Version}}']);
  if (r.code === 0 && r.stdout.trim()) return undefined;
  return (r.stderr || r.stdout).trim().split('\n').pop() || `docker version exited with code ${r.code}`;
}

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

function docker(bin: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: 'utf8', maxBuffer: 16 << 20, env: pluginEnv() }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0;
      resolve({ stdout, stderr: stderr || (err && code === 127 ? err.message : ''), code });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Containers still running when cq-pipe exits are removed: a crash leaves no plugin container behind. */
const live = new Map<string, string>();
let exitHook = false;
function track(bin: string, id: string): void {
  live.set(id, bin);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const [c, b] of live) spawnSync(b, ['rm', '--force', c], { stdio: 'ignore', timeout: 15_000 });
  });
}

/** `host:port` from `docker port` output (`0.0.0.0:49153`, `[::]:49153`, one a line); a wildcard host becomes loopback. */
export function hostAddress(portOutput: string): string | undefined {
  const first = portOutput
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /^(\d+\.\d+\.\d+\.\d+|\[[^\]]*\]):\d+$/.test(l));
  if (!first) return undefined;
  const at = first.lastIndexOf(':');
  const host = first.slice(0, at);
  const local = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host;
  return `${local}:${first.slice(at + 1)}`;
}

export interface DockerPluginOptions extends Pick<SpawnOptions, 'otelEndpoint' | 'otelEndpointInsecure'> {
  /** the `docker` executable (default: found on PATH when the source opens) */
  docker?: string;
  /** how long to wait for the plugin to answer on its port (the CLI retries for about 20 s) */
  readyTimeoutMs?: number;
}

/**
 * The `docker run` arguments for a plugin image (what the CLI's container config says: the same
 * `serve` flags as a local plugin's, `--otel-endpoint` included).
 */
export function dockerRunArgs(
  image: string,
  containerName: string,
  logLevel: string,
  otel: Pick<SpawnOptions, 'otelEndpoint' | 'otelEndpointInsecure'> = {},
): string[] {
  return [
    'run',
    '--detach',
    '--tty',
    '--name',
    containerName,
    '--publish',
    `127.0.0.1::${CONTAINER_PORT}`,
    image,
    'serve',
    '--log-level',
    logLevel,
    '--log-format',
    'json',
    '--network',
    'tcp',
    '--address',
    '0.0.0.0:7777',
    ...otelArgs(otel),
  ];
}

/** A started plugin container: where it answers, how to stop it, why it went away, its log counts. */
interface RunningContainer {
  address: string;
  stop: () => Promise<void>;
  whyGone: () => Promise<string | undefined>;
  counts: LogCounts;
}

type StartError = (message: string) => Error;

/** `docker run` the image, wait for its published port, follow its log; failures through `error` (the role's error class). */
async function startContainer(image: string, ctx: ConnectorContext, bin: string, error: StartError, opts: DockerPluginOptions): Promise<RunningContainer> {
  const label = `plugin ${ctx.name} (docker image ${image})`;
  const fail = (what: string, r: Run) => error(`${label}: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  const name = `${ctx.name}-${randomUUID()}`.replace(/[^\w.-]/g, '-');
  const run = await docker(bin, dockerRunArgs(image, name, ctx.logger.level, opts));
  if (run.code !== 0) throw fail('docker run', run);
  const id = run.stdout.trim().split('\n').pop()!.trim() || name;
  track(bin, id);

  const counts: LogCounts = { warnings: 0, errors: 0 };
  let logs: ChildProcess | undefined;
  let logsDone: Promise<void> = Promise.resolve();
  const stop = async () => {
    await docker(bin, ['stop', '--time', '10', id]);
    await docker(bin, ['rm', '--force', id]);
    live.delete(id);
    logs?.kill('SIGTERM');
    await Promise.race([logsDone, new Promise((r) => setTimeout(r, 1000).unref())]);
  };
  const whyGone = async () => {
    const r = await docker(bin, ['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', id]);
    const [status, code] = r.stdout.trim().split(' ');
    return status === 'exited' || status === 'dead' ? `the container ${status} with code ${code}` : undefined;
  };

  // the port mapping appears once the container runs (the CLI tries 30 times, backing off to 1 s)
  let address: string | undefined;
  let last: Run | undefined;
  for (let i = 0; i < 30 && !address; i++) {
    last = await docker(bin, ['port', id, CONTAINER_PORT]);
    address = last.code === 0 ? hostAddress(last.stdout) : undefined;
    if (!address) {
      const why = await whyGone();
      if (why) {
        const tail = await docker(bin, ['logs', '--tail', '5', id]);
        await stop();
        throw error(`${label} stopped before serving: ${why}: ${tail.stdout.trim().split('\n').join(' / ')}`);
      }
      await sleep(Math.min(1000, 100 * 2 ** i));
    }
  }
  if (!address) {
    await stop();
    throw fail(`docker port ${id} ${CONTAINER_PORT}`, last!);
  }

  logs = spawn(bin, ['logs', '--follow', id], { stdio: ['ignore', 'pipe', 'pipe'], env: pluginEnv() });
  logsDone = new Promise<void>((resolve) => logs!.once('close', () => resolve()));
  const log = ctx.logger.child({ plugin_process: ctx.name });
  for (const stream of [logs.stdout, logs.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on('line', (l) => forwardLogLine(log, l, counts));
  }
  return { address, stop, whyGone, counts };
}

/** A source served by a plugin image (`registry: docker`), its container started when the source opens. */
export function dockerPluginSource(image: string, opts: DockerPluginOptions = {}): SourceConnector<PluginSpec> {
  return defineSource<PluginSpec>({
    name: `docker:${image}`,
    configSchema: { type: 'object' },
    async create(spec, ctx) {
      const error = (message: string) => new SourceReadError(message, { connector: ctx.name, phase: 'start' });
      const bin = opts.docker ?? (await dockerOnPath());
      if (!bin) throw error(`plugin ${ctx.name} (docker image ${image}): docker is not on PATH`);
      const c = await startContainer(image, ctx, bin, error, opts);
      return openPluginSource(spec, ctx, {
        label: { name: ctx.name, address: `${image} at ${c.address}` },
        target: c.address,
        deterministicCqId: false,
        readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
        afterClose: c.stop,
        whyGone: c.whyGone,
        logCounts: () => ({ ...c.counts }),
      });
    },
  });
}

/**
 * A destination served by a plugin image (`registry: docker`), its container started when the
 * destination opens; the write and PK modes decide the CLI's schema spelling it receives.
 */
export function dockerPluginDestination(
  image: string,
  opts: DockerPluginOptions & { modes?: Partial<CliModes> } = {},
): DestinationConnector<PluginDestinationSpec> {
  return defineDestination<PluginDestinationSpec>({
    name: `docker:${image}`,
    configSchema: { type: 'object' },
    capabilities: PLUGIN_DESTINATION_CAPABILITIES,
    async create(spec, ctx) {
      const error = (message: string) => new DestinationWriteError(message, { connector: ctx.name, phase: 'start' });
      const bin = opts.docker ?? (await dockerOnPath());
      if (!bin) throw error(`plugin ${ctx.name} (docker image ${image}): docker is not on PATH`);
      const c = await startContainer(image, ctx, bin, error, opts);
      return openPluginDestination(spec, ctx, {
        label: { name: ctx.name, address: `${image} at ${c.address}`, role: 'destination' },
        target: c.address,
        modes: cliModes(opts.modes),
        readyTimeoutMs: opts.readyTimeoutMs ?? 20_000,
        afterClose: c.stop,
        whyGone: c.whyGone,
        logCounts: () => ({ ...c.counts }),
      });
    },
  });
}
