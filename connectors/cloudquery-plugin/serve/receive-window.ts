/**
 * The plugin server's HTTP/2 receive window (docs/plugins.md, "Performance of the plugin wire").
 * A `Write` stream carries ~1 MB records; with HTTP/2's default 64 KiB window the client waits for
 * a WINDOW_UPDATE round trip every 64 KiB of every record. grpc-js (1.14) has no server option for
 * it, so the window is set on what grpc-js hands to node:http2 — the settings every session
 * announces (the stream window) and each new session (the connection window) — when those are
 * where grpc-js keeps them; otherwise the server keeps the default window, slower and otherwise
 * the same. A reader that stops reading still stops the client after this many bytes.
 */
import type * as http2 from 'node:http2';
import type { grpcTypes } from './grpc.js';

export const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

/** the grpc-js server fields used here (not part of its typed API) */
interface ServerInternals {
  commonServerOptions?: { settings?: http2.Settings };
  http2Servers?: Map<http2.Http2Server, unknown>;
}

/** Before `bindAsync`: every session announces an initial stream window of RECEIVE_WINDOW_BYTES. */
export function widenStreamWindow(server: grpcTypes.Server): void {
  const common = (server as unknown as ServerInternals).commonServerOptions;
  if (common && typeof common === 'object') common.settings = { ...common.settings, initialWindowSize: RECEIVE_WINDOW_BYTES };
}

/** After `bindAsync`: every new session's connection window is RECEIVE_WINDOW_BYTES. */
export function widenConnectionWindow(server: grpcTypes.Server): void {
  const servers = (server as unknown as ServerInternals).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const h of servers.keys()) {
    h.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(RECEIVE_WINDOW_BYTES);
      } catch {
        // a session already closing keeps its window
      }
    });
  }
}
