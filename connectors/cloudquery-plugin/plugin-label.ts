/**
 * What names a CloudQuery plugin in messages and errors, and how long it gets to start: kept apart
 * from the gRPC client (grpc-client.ts) so that spawn.ts starts a plugin's process before grpc-js
 * and the generated protobuf code are loaded — the two start-ups overlap.
 */
import { type CqPipeError, DestinationWriteError, SourceReadError } from '../../lib/errors.js';

/**
 * How long a plugin gets to start (open its socket, answer on its connection): `defaultMs` (the
 * CloudQuery CLI's 5 s for a spawned plugin), or `CQ_PIPE_PLUGIN_START_TIMEOUT` milliseconds on a
 * slow or loaded machine (docs/plugins.md).
 */
export function pluginStartTimeoutMs(defaultMs: number): number {
  const v = Number(process.env.CQ_PIPE_PLUGIN_START_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v : defaultMs;
}

/** what names the plugin in every message: its config name and where it runs (an address or a binary) */
export interface PluginLabel {
  name: string;
  address: string;
  /** what cq-pipe uses it as: its failures are source read errors (the default) or destination write errors */
  role?: 'source' | 'destination';
}

export function describePlugin(p: PluginLabel): string {
  return `plugin ${p.name} (${p.address})`;
}

/** A failure of the plugin as its role's error: CQ_ERR_SOURCE_READ for a source, CQ_ERR_DEST_WRITE for a destination. */
export function pluginError(label: PluginLabel, message: string, phase: string, cause?: unknown): CqPipeError {
  const context = { connector: label.name, phase };
  return label.role === 'destination' ? new DestinationWriteError(message, context, cause) : new SourceReadError(message, context, cause);
}
