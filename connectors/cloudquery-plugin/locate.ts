/**
 * Where a CloudQuery plugin named `team/name` comes from when cq-pipe has no built-in of that name
 * (docs/plugins.md, "Plugin cache and Hub downloads"), in the CloudQuery CLI's order: its plugin
 * cache `<cq-dir>/plugins/<kind>/<team>/<name>/<version>/plugin` (`--cq-dir`, default `.cq` in the
 * working directory), else a download into that path — from the CloudQuery Hub when
 * `CLOUDQUERY_API_KEY` is set (`registry: cloudquery`), from a GitHub release (`registry: github`).
 * The download happens when the plugin is first opened, not while the config is checked; it runs
 * as a `registry: local` plugin. When nothing can provide it: a PluginUnavailableError naming the
 * plugin, its version, the cache path looked at and the other ways to run it.
 */
import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DestinationConnector, SourceConnector } from '../../lib/connector.js';
import { type ErrorContext, PluginUnavailableError } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { DEFAULT_GITHUB_URL, DEFAULT_HUB_URL, downloadFromGithub, downloadFromHub, HubDownloadError } from './hub-download.js';

export type PluginKind = 'source' | 'destination' | 'transformer';

/** The CLI's default `--cq-dir`, relative to the working directory. */
export const DEFAULT_CQ_DIR = '.cq';

export interface LocateOptions {
  /** CloudQuery's `--cq-dir` (default `.cq`), relative to the working directory */
  cqDir?: string;
  /** where `CLOUDQUERY_API_KEY`, `CLOUDQUERY_API_URL` and `CQ_PIPE_GITHUB_URL` are read (default process.env) */
  env?: NodeJS.ProcessEnv;
}

/** `<cq-dir>/plugins/<kind>/<team>/<name>/<version>/plugin`, absolute (the CLI's cache layout). */
export function pluginCachePath(cqDir: string | undefined, kind: PluginKind, team: string, name: string, version: string): string {
  const file = process.platform === 'win32' ? 'plugin.exe' : 'plugin';
  return path.resolve(process.cwd(), cqDir ?? DEFAULT_CQ_DIR, 'plugins', kind, team, name, version, file);
}

/** A plugin binary: where it is (or will be), and how to download it there when it is not cached. */
export interface LocatedPlugin {
  binary: string;
  fetch?: (logger: Logger) => Promise<void>;
}

export interface HubPluginName {
  kind: PluginKind;
  /** `team/name` */
  path: string;
  registry: 'cloudquery' | 'github';
  version?: string;
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** What a plugin is called in messages: `CloudQuery source plugin "team/name" v1.2.3 (registry cloudquery)`. */
export function pluginWhat(kind: string, p: string, registry: string, version?: string): string {
  return `CloudQuery ${kind} plugin "${p}"${version ? ` ${version}` : ''} (registry ${registry})`;
}

/** the other ways to provide a plugin, for every hint */
const RUN_IT_YOURSELF = 'or run it yourself: registry: local with path: ./plugin-binary, or registry: grpc with path: host:port (docs/plugins.md)';

/**
 * The binary of a Hub or GitHub plugin: the cached one, or where a download will put it. Throws a
 * PluginUnavailableError when there is no version, or it is not cached and cannot be downloaded.
 */
export async function locateHubPlugin(plugin: HubPluginName, opts: LocateOptions, context: ErrorContext): Promise<LocatedPlugin> {
  const what = pluginWhat(plugin.kind, plugin.path, plugin.registry, plugin.version);
  const [team, name] = plugin.path.split('/') as [string, string];
  if (!plugin.version) {
    throw new PluginUnavailableError(
      `${what} has no version: cq-pipe has no built-in connector of that name, and a ${plugin.registry} plugin is found by its version`,
      `add version: vX.Y.Z (the plugin's release, as on hub.cloudquery.io), or ${RUN_IT_YOURSELF}`,
      context,
    );
  }
  const version = plugin.version;
  const binary = pluginCachePath(opts.cqDir, plugin.kind, team, name, version);
  if (await isExecutable(binary)) return { binary };
  const env = opts.env ?? process.env;
  const apiKey = env.CLOUDQUERY_API_KEY;
  const cachedAt = `put the plugin binary at ${binary} (cloudquery plugin install, or --cq-dir DIR for another cache)`;
  if (plugin.registry === 'cloudquery' && !apiKey) {
    throw new PluginUnavailableError(
      `${what} is not available: cq-pipe has no built-in connector of that name, it is not in the plugin cache (${binary}), ` +
        'and CLOUDQUERY_API_KEY is not set to download it from the CloudQuery Hub',
      `set CLOUDQUERY_API_KEY (a CloudQuery Cloud API key) to download it, ${cachedAt}, ${RUN_IT_YOURSELF}`,
      context,
    );
  }
  const req = { kind: plugin.kind, team, name, version, binary };
  const from = plugin.registry === 'cloudquery' ? 'the CloudQuery Hub' : 'GitHub';
  const fetch = async (logger: Logger) => {
    if (await isExecutable(binary)) return; // another run downloaded it meanwhile
    try {
      if (plugin.registry === 'cloudquery') await downloadFromHub({ ...req, logger }, apiKey!, env.CLOUDQUERY_API_URL || DEFAULT_HUB_URL);
      else await downloadFromGithub({ ...req, logger }, env.CQ_PIPE_GITHUB_URL || DEFAULT_GITHUB_URL);
    } catch (err) {
      const reason = err instanceof HubDownloadError ? err.message : `${(err as Error).message}`;
      throw new PluginUnavailableError(
        `${what} could not be downloaded from ${from}: ${reason}`,
        `${plugin.registry === 'cloudquery' ? 'check CLOUDQUERY_API_KEY and the network, or ' : ''}${cachedAt}, ${RUN_IT_YOURSELF}`,
        { ...context, phase: 'download' },
        err,
      );
    }
  };
  return { binary, fetch };
}

/** `connector` whose `create` first downloads the plugin binary (when `fetch` is given). */
export function fetchingFirst<C extends SourceConnector | DestinationConnector>(connector: C, fetch: LocatedPlugin['fetch']): C {
  if (!fetch) return connector;
  const create = connector.create.bind(connector) as (spec: unknown, ctx: Parameters<C['create']>[1]) => ReturnType<C['create']>;
  return {
    ...connector,
    create: async (spec: unknown, ctx: Parameters<C['create']>[1]) => {
      await fetch(ctx.logger);
      return create(spec, ctx);
    },
  };
}
