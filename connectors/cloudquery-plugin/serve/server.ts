/**
 * The plugin server process (docs/plugins.md): a gRPC server with CloudQuery's 200 MiB message
 * limits and an 8 MiB receive window (receive-window.ts) serving discovery v1 (`[3]`) and plugin
 * v3 for one cq-pipe connector, bound to a unix socket (`--network unix --address <path>`, as the
 * CloudQuery CLI starts `registry: local` plugins) or a TCP address. `stop()` aborts the calls in flight, stops the server and removes the
 * socket; the command exits 0 after it, as Go plugins do on SIGINT/SIGTERM.
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../../lib/logger.js';
import { UsageError } from '../../../lib/errors.js';
import { discoveryHandlers, discoveryService } from './discovery.js';
import { pluginServiceDefinition } from '../insert-codec.js';
import { grpc, MAX_MESSAGE_BYTES } from './grpc.js';
import { PluginService } from './plugin-service.js';
import { widenConnectionWindow, widenStreamWindow } from './receive-window.js';
import type { ServedConnectors } from './spec.js';

export const NETWORKS = ['unix', 'tcp'] as const;
export type Network = (typeof NETWORKS)[number];

export interface ServeOptions {
  connectors: ServedConnectors;
  version: string;
  network: Network;
  /** a socket path (unix) or host:port (tcp) */
  address: string;
  logger: Logger;
}

export interface RunningServer {
  /** where it listens: the socket path, or host:port with the bound port */
  address: string;
  /** abort calls in flight, stop serving, remove the socket; never throws */
  stop(): Promise<void>;
}

/** A unix socket left by an earlier run is removed; any other file at the path is a usage error. */
async function clearSocket(socket: string): Promise<void> {
  const s = await stat(socket).catch(() => undefined);
  if (!s) return;
  if (!s.isSocket()) throw new UsageError(`--address ${socket} exists and is not a socket`, 'name a new path for the plugin socket');
  await rm(socket, { force: true });
}

export async function startPluginServer(opts: ServeOptions): Promise<RunningServer> {
  const service = new PluginService({ connectors: opts.connectors, version: opts.version, logger: opts.logger });
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(discoveryService, discoveryHandlers);
  server.addService(pluginServiceDefinition(), service.handlers);
  widenStreamWindow(server);
  const socket = opts.network === 'unix' ? path.resolve(opts.address) : undefined;
  if (socket) await clearSocket(socket);
  const target = socket ? `unix:${socket}` : opts.address;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => {
      if (err) {
        reject(
          new UsageError(
            `cannot listen on ${opts.network} address ${opts.address}: ${err.message}`,
            'pass a free --address (a unix socket path is at most 107 bytes)',
          ),
        );
      } else resolve(p);
    });
  });
  widenConnectionWindow(server);
  const address = socket ?? opts.address.replace(/:0$/, `:${port}`);
  opts.logger.info(`serving cq-pipe's ${opts.connectors.name} plugin`, { network: opts.network, address });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const done = service.shutdown(5000);
      server.forceShutdown();
      await done.catch(() => {});
      if (socket) await rm(socket, { force: true }).catch(() => {});
      opts.logger.info('plugin server stopped');
    })();
    return stopping;
  };
  return { address, stop };
}
