/**
 * A gRPC client of one CloudQuery plugin (protocol v3, as the CloudQuery CLI dials it): the channel with the
 * CloudQuery CLI's 200 MiB message limits, discovery (v3 required) and promise-shaped unary calls.
 * Every failure is a CqPipeError naming the plugin.
 */
import { createRequire } from 'node:module';
import type * as grpcTypes from '@grpc/grpc-js';
import { pluginV3 } from '@cloudquery/plugin-pb-javascript';
import { CqPipeError, DestinationWriteError, SourceReadError, UnsupportedError } from '../../lib/errors.js';
import { pluginServiceDefinition } from './insert-codec.js';
import { describePlugin, type PluginLabel, pluginError, pluginStartTimeoutMs } from './plugin-label.js';

// (kept importable from here: the plugin code imported them from this file)
export { describePlugin, type PluginLabel, pluginError, pluginStartTimeoutMs };

const require = createRequire(import.meta.url);
// the generated stubs require this same CommonJS copy: one grpc-js instance for channel and stubs
const grpc = require('@grpc/grpc-js') as typeof grpcTypes;

export const v3 = pluginV3.cloudquery.plugin.v3;

/** The CloudQuery CLI's client limits (200 MiB send and receive). */
export const MAX_MESSAGE_BYTES = 200 * 1024 * 1024;

/**
 * The HTTP/2 receive window of a plugin channel: a Sync stream's 1 MB records arrive without a
 * WINDOW_UPDATE round trip every 64 KiB (grpc-js's default window), while a consumer that stops
 * reading still stops the plugin after this many bytes.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

type PluginStub = InstanceType<typeof v3.PluginClient>;
/** the generated client's methods over the definition with the insert fast path (insert-codec.ts) */
const PluginStubClass = grpc.makeGenericClientConstructor(pluginServiceDefinition(), 'Plugin', {}) as unknown as new (
  address: string,
  credentials: grpcTypes.ChannelCredentials,
  options: grpcTypes.ChannelOptions,
) => PluginStub;

/** A gRPC target for an address: `unix:/path` and `host:port` pass through; a bare socket path gets `unix:`. */
export function grpcTarget(address: string): string {
  return address.startsWith('/') ? `unix:${address}` : address;
}

/** The gRPC failure of a call to a plugin, as a CqPipeError naming it. */
export function pluginCallError(label: PluginLabel, rpc: string, err: unknown): CqPipeError {
  if (err instanceof CqPipeError) return err;
  const e = err as Partial<grpcTypes.ServiceError>;
  const status = e.code !== undefined ? ` (gRPC ${grpc.status[e.code] ?? e.code})` : '';
  const detail = e.details || e.message || String(err);
  return pluginError(label, `${describePlugin(label)}: ${rpc} failed${status}: ${detail}`, rpc, err);
}

/** How a hosted plugin is reached, and what is known when it goes away (source.ts and destination.ts runs). */
export interface PluginReach {
  label: PluginLabel;
  target: string;
  readyTimeoutMs?: number;
  /** e.g. terminate the process of a local plugin; must not throw */
  afterClose?: () => Promise<void>;
  /** why the plugin went away (e.g. its exit code), waiting up to `ms` for it to be known; for error messages */
  whyGone?: (ms: number) => Promise<string | undefined>;
}

/** `err` with why the plugin went away, when that is known within a second (a broken stream comes before the exit). */
export async function withWhyGone(err: unknown, run: Pick<PluginReach, 'label' | 'whyGone'>): Promise<unknown> {
  const why = await run.whyGone?.(1000);
  if (!why || !(err instanceof CqPipeError)) return err;
  const context = err.context;
  const message = `${err.message} (${why})`;
  return run.label.role === 'destination'
    ? new DestinationWriteError(message, context, err.cause ?? err)
    : new SourceReadError(message, context, err.cause ?? err);
}

/** Dial, check discovery and `Init` a hosted plugin; on failure the plugin is stopped and the error says why it went away. */
export async function openAndInit(run: PluginReach, spec: Record<string, unknown> | undefined, invocationId: string): Promise<PluginConnection> {
  let conn: PluginConnection;
  try {
    conn = await PluginConnection.open(run.label, run.target, { readyTimeoutMs: run.readyTimeoutMs });
    await conn.init(spec, invocationId).catch((err: unknown) => {
      conn.close();
      throw err;
    });
  } catch (err) {
    await run.afterClose?.();
    throw await withWhyGone(err, run);
  }
  return conn;
}

/** Versions from a `cloudquery.discovery.v1.GetVersions` reply: `repeated int32 versions = 1`, packed or not. */
export function decodeVersions(buf: Uint8Array): number[] {
  let p = 0;
  const varint = (): number => {
    let x = 0;
    let shift = 0;
    for (;;) {
      if (p >= buf.length) throw new Error('truncated varint');
      const b = buf[p++]!;
      x += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return x;
      shift += 7;
    }
  };
  const out: number[] = [];
  while (p < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) out.push(v);
    } else if (wire === 2) {
      const len = varint();
      const end = p + len;
      if (field === 1) while (p < end) out.push(varint());
      p = end;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

type SyncRequest = InstanceType<typeof v3.Sync.Request>;
type SyncResponse = InstanceType<typeof v3.Sync.Response>;
type WriteRequest = InstanceType<typeof v3.Write.Request>;

/** The calls the host makes, each failing with a CqPipeError naming the plugin. */
export class PluginConnection {
  private readonly stub: PluginStub;

  private constructor(
    readonly label: PluginLabel,
    target: string,
    channelOptions: grpcTypes.ChannelOptions,
  ) {
    this.stub = new PluginStubClass(grpcTarget(target), grpc.credentials.createInsecure(), channelOptions);
  }

  /** Dial the plugin at `target` and check that it speaks protocol v3 (discovery first, as the CLI does). */
  static async open(label: PluginLabel, target: string, opts: { readyTimeoutMs?: number } = {}): Promise<PluginConnection> {
    const conn = new PluginConnection(label, target, {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
    });
    try {
      await conn.waitReady(opts.readyTimeoutMs ?? pluginStartTimeoutMs(10_000));
      const versions = await conn.versions();
      if (!versions.includes(3)) {
        throw new UnsupportedError(
          `${describePlugin(label)} speaks CloudQuery plugin protocol version(s) ${versions.join(', ') || 'none'}; cq-pipe needs version 3`,
          { connector: label.name },
          'use a release of the plugin built with a current CloudQuery SDK',
        );
      }
    } catch (err) {
      conn.close();
      throw pluginCallError(label, 'Discovery.GetVersions', err);
    }
    return conn;
  }

  private waitReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stub.waitForReady(Date.now() + timeoutMs, (err?: Error) => {
        if (err) reject(pluginError(this.label, `${describePlugin(this.label)}: not reachable within ${timeoutMs} ms: ${err.message}`, 'connect', err));
        else resolve();
      });
    });
  }

  /** `cloudquery.discovery.v1.Discovery/GetVersions`, its reply decoded here (the generated stub of pb 0.0.39 with google-protobuf 4 cannot). */
  private versions(): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.stub.makeUnaryRequest(
        '/cloudquery.discovery.v1.Discovery/GetVersions',
        () => Buffer.alloc(0),
        (b: Buffer) => decodeVersions(b),
        {},
        (err: grpcTypes.ServiceError | null, res?: number[]) => (err ? reject(err) : resolve(res ?? [])),
      );
    });
  }

  private unary<Req, Res>(rpc: string, call: (req: Req, cb: (err: grpcTypes.ServiceError | null, res?: Res) => void) => unknown, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      call.call(this.stub, req, (err, res) => (err ? reject(pluginCallError(this.label, rpc, err)) : resolve(res!)));
    });
  }

  /** `Init` with the nested spec as JSON; an empty spec is sent as `null`, as the CLI does. */
  async init(spec: Record<string, unknown> | undefined, invocationId: string): Promise<void> {
    const json = spec && Object.keys(spec).length > 0 ? JSON.stringify(spec) : 'null';
    const req = new v3.Init.Request({ spec: new TextEncoder().encode(json), no_connection: false, invocation_id: invocationId });
    await this.unary('Init', (r, cb) => this.stub.Init(r, cb), req);
  }

  /** Every table the plugin has, one IPC schema each (flattened: relations listed separately). */
  async getTables(): Promise<Uint8Array[]> {
    const req = new v3.GetTables.Request({ tables: ['*'], skip_tables: [], skip_dependent_tables: false });
    const res = await this.unary<typeof req, InstanceType<typeof v3.GetTables.Response>>('GetTables', (r, cb) => this.stub.GetTables(r, cb), req);
    return res.tables;
  }

  /** A server stream of Sync responses; the caller pulls (async iteration reads only as it consumes). */
  sync(req: {
    tables: string[];
    deterministicCqId: boolean;
    shard?: { num: number; total: number };
    /** the state backend the plugin dials (`table_name` and `connection` both, as the Go state client requires) */
    backend?: { table_name: string; connection: string };
  }): grpcTypes.ClientReadableStream<SyncResponse> {
    const r: SyncRequest = new v3.Sync.Request({
      tables: req.tables,
      skip_tables: [],
      skip_dependent_tables: true,
      deterministic_cq_id: req.deterministicCqId,
      withErrorMessages: true,
      ...(req.shard ? { shard: new v3.Sync.Request.Shard({ num: req.shard.num, total: req.shard.total }) } : {}),
      ...(req.backend ? { backend: new v3.Sync.BackendOptions(req.backend) } : {}),
    });
    return this.stub.Sync(r);
  }

  /**
   * A `Write` client stream; `done` gets the plugin's answer when the stream ends: null, or the
   * gRPC error that ended it (a plugin ends the whole stream on a failed write).
   */
  write(done: (err: grpcTypes.ServiceError | null) => void): grpcTypes.ClientWritableStream<WriteRequest> {
    return this.stub.Write((err: grpcTypes.ServiceError | null) => done(err));
  }

  /** `Close` (best effort: a plugin that is gone has nothing to close), then the channel. */
  async closePlugin(timeoutMs = 5000): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        this.stub.Close(new v3.Close.Request(), { deadline: Date.now() + timeoutMs }, (err: grpcTypes.ServiceError | null) => (err ? reject(err) : resolve()));
      });
    } finally {
      this.close();
    }
  }

  close(): void {
    this.stub.close();
  }
}

export type { SyncResponse, WriteRequest };
