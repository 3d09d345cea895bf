/** The SDK-built test source plugin (test/fixtures/plugins/) served in its own process, and a registry that finds it. */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { Test } from 'tap';
import { builtinRegistry } from '../../bin/registry.js';
import type { DestinationConnector, SourceConnector } from '../../lib/connector.js';
import type { Registry } from '../../lib/registry.js';
import { ROOT } from './index.js';

export const PLUGIN_ENTRY = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-source.js');
/** the source `path` under which registryWith finds the plugin source under test */
export const PLUGIN_PATH = 'sdk-test-plugin';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The SDK plugin (or another plugin entry) served over TCP (as `registry: grpc` finds a running plugin); killed at teardown. */
export async function servePlugin(t: Test, entry = PLUGIN_ENTRY): Promise<{ address: string; child: ChildProcess; exit: Promise<number | null> }> {
  const address = `127.0.0.1:${await freePort()}`;
  // the SDK's serve reads every CQ_* variable as a flag
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CQ_')));
  const child = spawn(process.execPath, [entry, 'serve', '--address', address, '--log-format', 'json', '--log-level', 'warn'], {
    env,
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { address, child, exit };
}

/** The built-in registry, plus `source` under PLUGIN_PATH (and any destination by path). */
export function registryWith(source: SourceConnector, destinations: Record<string, DestinationConnector> = {}): Registry {
  return {
    ...builtinRegistry,
    source: async (p, base) => (p === PLUGIN_PATH ? source : builtinRegistry.source(p, base)),
    destination: async (p, base) => destinations[p] ?? builtinRegistry.destination(p, base),
  };
}
