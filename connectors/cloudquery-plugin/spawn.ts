/**
 * `registry: local`: run a plugin binary as the CloudQuery CLI does (docs/architecture.md names the
 * connector layer): `<path> serve --log-level <lvl> --log-format json --network unix --address
 * <tmp socket>` in its own process group, its JSON stdout log lines forwarded into the connector's
 * logger at their level (warn and error lines counted for the sync summary, of a source or a
 * destination), stderr passed through; at the end SIGINT, SIGKILL after a grace period,
 * and the socket removed. The environment is inherited, less cq-pipe's own `CQ_PIPE_*` variables
 * (the JavaScript SDK reads every `CQ_*` variable as a flag and rejects unknown ones).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { defineDestination, defineSource, type DestinationConnector, type LogCounts, type SourceConnector } from '../../lib/connector.js';
import { ConfigError } from '../../lib/errors.js';
import { pluginError, pluginStartTimeoutMs } from './plugin-label.js';
import type { Logger, LogLevel } from '../../lib/logger.js';
// the gRPC side (source.js, destination.js: grpc-js, the generated protobuf code) is loaded only
// once the plugin's process has been started, so that the two start-ups overlap
import type { PluginSpec } from './source.js';
import type { PluginDestinationSpec } from './destination.js';
import { type CliModes, cliModes, PLUGIN_DESTINATION_CAPABILITIES } from './cli-schema.js';

/**
 * The environment a plugin (or the `docker` command that starts one) gets: cq-pipe's, less its own
 * `CQ_PIPE_*` variables (plugins built with the JS SDK read every `CQ_*` variable as a flag).
 */
export function pluginEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CQ_PIPE_')));
}

export interface SpawnOptions {
  logger: Logger;
  /** the config name, for messages */
  name: string;
  logLevel?: LogLevel;
  /** how long to wait for the socket of one start (the CLI dials for 5 s) */
  startTimeoutMs?: number;
  /** starts tried before giving up (the CLI tries 3, 1 s apart) */
  attempts?: number;
  /** SIGINT → SIGKILL grace period (the CLI waits 5 s) */
  killGraceMs?: number;
  /** what the plugin is used as: a failed start is a source read error (default) or a destination write error */
  role?: 'source' | 'destination';
  /** warn and error log lines are counted here (the sync summary's warnings and errors) */
  counts?: LogCounts;
  /** `--otel-endpoint <host:port>` (and `--otel-endpoint-insecure`), as the CloudQuery CLI passes a source's `otel_endpoint` */
  otelEndpoint?: string;
  otelEndpointInsecure?: boolean;
}

/** the `serve` flags of an `otel_endpoint` */
export function otelArgs(o: Pick<SpawnOptions, 'otelEndpoint' | 'otelEndpointInsecure'>): string[] {
  if (!o.otelEndpoint) return [];
  return ['--otel-endpoint', o.otelEndpoint, ...(o.otelEndpointInsecure ? ['--otel-endpoint-insecure'] : [])];
}

export interface SpawnedPlugin {
  socket: string;
  pid: number;
  /** why the process is gone (its exit code or signal), waiting up to `ms` for it; undefined while it runs */
  whyGone(ms: number): Promise<string | undefined>;
  /** SIGINT, SIGKILL after the grace period, socket removed; never throws */
  stop(): Promise<void>;
}

/** A log line longer than this is cut (the CLI's reader drops lines over its 4 KiB buffer). */
const MAX_LOG_LINE = 4096;

const LEVELS: Record<string, LogLevel> = {
  trace: 'debug',
  debug: 'debug',
  verbose: 'debug',
  silly: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'error',
  panic: 'error',
};

/**
 * Forward one stdout line of a plugin (zerolog or winston JSON; anything else is info), counting
 * warn and error lines into `counts` as the CloudQuery CLI counts them into its sync summary.
 */
export function forwardLogLine(logger: Logger, raw: string, counts?: LogCounts): void {
  const line = raw.length > MAX_LOG_LINE ? raw.slice(0, 1000) + '…' : raw;
  if (!line.trim()) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    logger.info(line);
    return;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    logger.info(line);
    return;
  }
  const { level, message, msg, time, timestamp, ...fields } = parsed as Record<string, unknown>;
  void time;
  void timestamp;
  const lvl = LEVELS[String(level).toLowerCase()] ?? 'info';
  if (counts && lvl === 'warn') counts.warnings++;
  if (counts && lvl === 'error') counts.errors++;
  logger[lvl](String(message ?? msg ?? ''), fields);
}

/** Groups still running when cq-pipe exits are killed: a crash leaves no plugin behind. */
const live = new Set<number>();
let exitHook = false;
function track(pid: number): void {
  live.add(pid);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of live) killGroup(p, 'SIGKILL');
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function socketPath(): string {
  const letters = [...randomBytes(16)].map((b) => String.fromCharCode(97 + (b % 26))).join('');
  return path.join(os.tmpdir(), `cq-${letters}.sock`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One start: spawn, then wait for the socket or the process's end. */
async function startOnce(binary: string, opts: SpawnOptions & { label: string }): Promise<SpawnedPlugin> {
  const socket = socketPath();
  const args = ['serve', '--log-level', opts.logLevel ?? 'info', '--log-format', 'json', '--network', 'unix', '--address', socket, ...otelArgs(opts)];
  const env = pluginEnv();
  const child: ChildProcess = spawn(binary, args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'], env });
  let gone: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = signal ? `the plugin process was killed by ${signal}` : `the plugin process exited with code ${code}`;
      if (child.pid) live.delete(child.pid);
      resolve();
    });
    child.once('error', (err) => {
      gone = `the plugin process could not start: ${err.message}`;
      resolve();
    });
  });
  if (child.pid) track(child.pid);
  const log = opts.logger.child({ plugin_process: opts.name });
  // 'close' comes after the last stdout line: every log line is forwarded and counted by then
  const drained = new Promise<void>((resolve) => child.once('close', () => resolve()));
  if (child.stdout) createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (l) => forwardLogLine(log, l, opts.counts));

  const stop = async () => {
    if (gone === undefined && child.pid) {
      killGroup(child.pid, 'SIGINT');
      const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), opts.killGraceMs ?? 5000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.race([drained, new Promise((r) => setTimeout(r, 1000).unref())]);
    await rm(socket, { force: true });
  };

  const startTimeoutMs = opts.startTimeoutMs ?? pluginStartTimeoutMs(5000);
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (gone !== undefined) {
      await stop();
      throw pluginError({ name: opts.name, address: binary, role: opts.role }, `${opts.label} stopped before serving: ${gone}`, 'start');
    }
    if (
      await stat(socket).then(
        (s) => s.isSocket(),
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await stop();
      const why = `${opts.label} did not open its socket within ${startTimeoutMs} ms`;
      throw pluginError({ name: opts.name, address: binary, role: opts.role }, why, 'start');
    }
    await Promise.race([sleep(10), exited]);
  }
  const whyGone = async (ms: number) => {
    if (gone === undefined) await Promise.race([exited, sleep(ms)]);
    return gone;
  };
  return { socket, pid: child.pid!, whyGone, stop };
}

/** Start a local plugin binary, retried as the CLI does; fails with a CqPipeError naming the plugin. */
export async function spawnPlugin(binary: string, opts: SpawnOptions): Promise<SpawnedPlugin> {
  const label = `plugin ${opts.name} (${binary})`;
  // checked synchronously: the first process is spawned before this returns its promise
  try {
    accessSync(binary, constants.X_OK);
    if (statSync(binary).isDirectory()) throw new Error('it is a directory');
  } catch (err) {
    throw new ConfigError(
      `${label}: not an executable file: ${(err as Error).message}`,
      { connector: opts.name },
      'registry: local needs the path of a plugin binary',
    );
  }
  const attempts = opts.attempts ?? 3;
  for (let i = 1; ; i++) {
    try {
      return await startOnce(binary, { ...opts, label });
    } catch (err) {
      if (i >= attempts) throw err;
      opts.logger.warn(`${(err as Error).message}; starting it again (${i + 1}/${attempts})`);
      await sleep(1000);
    }
  }
}

/** the client code and the started plugin; a plugin started for client code that fails to load is stopped */
async function withClientCode<M>(code: Promise<M>, starting: Promise<SpawnedPlugin>): Promise<[M, SpawnedPlugin]> {
  const [m, proc] = await Promise.allSettled([code, starting]);
  if (proc.status === 'rejected') throw proc.reason;
  if (m.status === 'rejected') {
    await proc.value.stop();
    throw m.reason;
  }
  return [m.value, proc.value];
}

/** A source served by a local plugin binary (`registry: local`), started when the source opens. */
export function localPluginSource(
  binary: string,
  opts: Pick<SpawnOptions, 'killGraceMs' | 'startTimeoutMs' | 'otelEndpoint' | 'otelEndpointInsecure'> & { deterministicCqId?: boolean } = {},
): SourceConnector<PluginSpec> {
  return defineSource<PluginSpec>({
    name: `local:${binary}`,
    configSchema: { type: 'object' },
    async create(spec, ctx) {
      const counts: LogCounts = { warnings: 0, errors: 0 };
      const starting = spawnPlugin(binary, { ...opts, logger: ctx.logger, name: ctx.name, logLevel: ctx.logger.level, counts });
      const [{ openPluginSource }, proc] = await withClientCode(import('./source.js'), starting);
      return openPluginSource(spec, ctx, {
        label: { name: ctx.name, address: binary },
        target: `unix:${proc.socket}`,
        deterministicCqId: opts.deterministicCqId ?? false,
        afterClose: proc.stop,
        whyGone: proc.whyGone,
        logCounts: () => ({ ...counts }),
      });
    },
  });
}

/** A destination served by a local plugin binary (`registry: local`), started when the destination opens. */
export function localPluginDestination(
  binary: string,
  opts: Pick<SpawnOptions, 'killGraceMs' | 'startTimeoutMs' | 'otelEndpoint' | 'otelEndpointInsecure'> & { modes?: Partial<CliModes> } = {},
): DestinationConnector<PluginDestinationSpec> {
  return defineDestination<PluginDestinationSpec>({
    name: `local:${binary}`,
    configSchema: { type: 'object' },
    capabilities: PLUGIN_DESTINATION_CAPABILITIES,
    async create(spec, ctx) {
      const counts: LogCounts = { warnings: 0, errors: 0 };
      const starting = spawnPlugin(binary, { ...opts, role: 'destination', logger: ctx.logger, name: ctx.name, logLevel: ctx.logger.level, counts });
      const [{ openPluginDestination }, proc] = await withClientCode(import('./destination.js'), starting);
      return openPluginDestination(spec, ctx, {
        label: { name: ctx.name, address: binary, role: 'destination' },
        target: `unix:${proc.socket}`,
        modes: cliModes(opts.modes),
        afterClose: proc.stop,
        whyGone: proc.whyGone,
        logCounts: () => ({ ...counts }),
      });
    },
  });
}
