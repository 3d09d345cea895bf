/**
 * The `cloudquery.plugin.v3.Plugin` service of a served cq-pipe connector (docs/plugins.md):
 * `GetName`, `GetVersion`, `GetSpecSchema`, `Init`, `TestConnection`, `GetTables` and `Sync` for a
 * source, `Write` and `Read` for a destination, `Close`; `UNIMPLEMENTED` (code 12) for the rest.
 * `Init` checks the spec with cq-pipe's own schema of the connector and keeps it for the calls that
 * follow; every failure is a gRPC status whose details name the error code, what failed and how
 * to fix it, and is logged.
 */
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { ConnectorContext, SourceClient } from '../../../lib/connector.js';
import type { Logger } from '../../../lib/logger.js';
import { AbortedError, ConfigError, UnsupportedError, UsageError, toCqPipeError } from '../../../lib/errors.js';
import { decodeSchema, encodeRecord } from '../arrow-wire.js';
import { type grpcTypes, errorText, serviceError, statusOf, v3 } from './grpc.js';
import { readerFor } from './read-back.js';
import { acceptSpec, kindsOf, parseSpecBytes, specJsonSchema, type AcceptedSpec, type ServedConnectors, type ServedKind } from './spec.js';
import { getTables, syncTables } from './source-side.js';
import { WriteSession } from './write-session.js';

export interface PluginServiceOptions {
  connectors: ServedConnectors;
  /** reported by `GetVersion` (`v` + cq-pipe's version) */
  version: string;
  logger: Logger;
}

interface Session {
  accepted: AcceptedSpec;
  invocationId: string;
  source?: Promise<SourceClient>;
}

type Call = { on(event: 'cancelled', fn: () => void): unknown };

export class PluginService {
  readonly #opts: PluginServiceOptions;
  #session?: Session;
  #syncing = false;
  readonly #running = new Set<{ abort: AbortController; done: Promise<unknown> }>();

  constructor(opts: PluginServiceOptions) {
    this.#opts = opts;
  }

  get #name(): string {
    return this.#opts.connectors.name;
  }

  get #log(): Logger {
    return this.#opts.logger;
  }

  #ctx(invocationId: string): ConnectorContext {
    return { name: this.#name, logger: this.#log, baseDir: process.cwd(), invocationId, syncTime: new Date() };
  }

  /** run a call's work with an abort signal (cancelled call, shutdown); it is awaited at shutdown */
  #track<T>(call: Call, rpc: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort(new AbortedError(`the caller cancelled ${rpc}`)));
    const done = work(abort.signal).catch((err: unknown) => {
      const e = toCqPipeError(err);
      this.#log.error(`${rpc} failed: ${errorText(e)}`, { rpc, code: e.code });
      throw e;
    });
    const entry = { abort, done };
    this.#running.add(entry);
    done.then(
      () => this.#running.delete(entry),
      () => this.#running.delete(entry),
    );
    return done;
  }

  #unary<Req, Res>(rpc: string, fn: (req: Req, signal: AbortSignal) => Promise<Res>) {
    return (call: grpcTypes.ServerUnaryCall<Req, Res>, cb: grpcTypes.sendUnaryData<Res>) => {
      this.#track(call, rpc, (signal) => fn(call.request, signal)).then(
        (res) => cb(null, res),
        (err) => cb(serviceError(statusOf(err))),
      );
    };
  }

  #need(kind: ServedKind, rpc: string): { session: Session } {
    if (!this.#opts.connectors[kind]) {
      const served = kindsOf(this.#opts.connectors).join(' and ');
      throw new UnsupportedError(`${rpc}: cq-pipe's ${this.#name} plugin is served as a ${served} only`, { connector: this.#name }, `${rpc} needs a ${kind}`);
    }
    const session = this.#session;
    if (!session) throw new UsageError(`${rpc}: the plugin is not initialized`, 'call Init with the spec first');
    if (!session.accepted[kind]) {
      throw new ConfigError(
        `${rpc}: the spec given to Init is not a valid ${this.#name} ${kind} spec: ${session.accepted.rejected[kind]}`,
        { connector: this.#name, phase: rpc },
        `fix the spec: of the ${kind} in the CloudQuery config`,
      );
    }
    return { session };
  }

  #sourceClient(rpc: string): Promise<SourceClient> {
    const { session } = this.#need('source', rpc);
    session.source ??= Promise.resolve(this.#opts.connectors.source!.create(session.accepted.source, this.#ctx(session.invocationId)));
    return session.source;
  }

  #destination(rpc: string): { spec: Record<string, unknown>; caps: { rows: number; bytes: number }; ctx: ConnectorContext } {
    const { session } = this.#need('destination', rpc);
    const d = session.accepted.destination!;
    const caps = { ...this.#opts.connectors.destination!.capabilities.batch, ...d.batch };
    return { spec: d.spec, caps, ctx: this.#ctx(session.invocationId) };
  }

  /** open each accepted kind once (a source lists its tables), then close what is not kept */
  async #connect(accepted: AcceptedSpec, invocationId: string): Promise<SourceClient | undefined> {
    const ctx = this.#ctx(invocationId);
    if (accepted.destination) await (await this.#opts.connectors.destination!.create(accepted.destination.spec, ctx)).close();
    if (!accepted.source) return undefined;
    const source = await this.#opts.connectors.source!.create(accepted.source, ctx);
    try {
      await source.tables();
    } catch (err) {
      await source.close?.().catch(() => {});
      throw err;
    }
    return source;
  }

  async #closeSession(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    const client = await s?.source?.catch(() => undefined);
    await client?.close?.().catch((err: unknown) => this.#log.warn(`closing the source failed: ${(err as Error).message}`));
  }

  readonly handlers: grpcTypes.UntypedServiceImplementation = {
    GetName: this.#unary('GetName', async () => new v3.GetName.Response({ name: this.#name })),
    GetVersion: this.#unary('GetVersion', async () => new v3.GetVersion.Response({ version: `v${this.#opts.version}` })),
    GetSpecSchema: this.#unary('GetSpecSchema', async () => new v3.GetSpecSchema.Response({ json_schema: specJsonSchema(this.#opts.connectors) })),
    Init: this.#unary('Init', async (req: InstanceType<typeof v3.Init.Request>) => {
      const accepted = await acceptSpec(this.#opts.connectors, parseSpecBytes(req.spec, this.#name));
      await this.#closeSession();
      const invocationId = req.invocation_id || randomUUID();
      const source = req.no_connection ? undefined : await this.#connect(accepted, invocationId);
      this.#session = { accepted, invocationId, ...(source ? { source: Promise.resolve(source) } : {}) };
      const kinds = [...(accepted.source ? ['source'] : []), ...(accepted.destination ? ['destination'] : [])];
      this.#log.info(`initialized as ${kinds.join(' and ')}`, { no_connection: req.no_connection, invocation_id: invocationId });
      return new v3.Init.Response();
    }),
    TestConnection: this.#unary('TestConnection', async (req: InstanceType<typeof v3.TestConnection.Request>) => {
      const fail = (failure_code: string, err: unknown) =>
        new v3.TestConnection.Response({ success: false, failure_code, failure_description: errorText(toCqPipeError(err)) });
      let accepted: AcceptedSpec;
      try {
        accepted = await acceptSpec(this.#opts.connectors, parseSpecBytes(req.spec, this.#name));
      } catch (err) {
        return fail('INVALID_SPEC', err);
      }
      try {
        await (await this.#connect(accepted, randomUUID()))?.close?.();
      } catch (err) {
        return fail('CONNECTION_FAILED', err);
      }
      return new v3.TestConnection.Response({ success: true });
    }),
    GetTables: this.#unary('GetTables', async (req: InstanceType<typeof v3.GetTables.Request>) => {
      const tables = await getTables(await this.#sourceClient('GetTables'), req, this.#name);
      return new v3.GetTables.Response({ tables });
    }),
    Sync: (call: grpcTypes.ServerWritableStream<InstanceType<typeof v3.Sync.Request>, InstanceType<typeof v3.Sync.Response>>) => {
      this.#track(call, 'Sync', async (signal) => {
        const client = await this.#sourceClient('Sync');
        if (this.#syncing) throw new UsageError('Sync: plugin already in use by another Sync', 'run one sync at a time per plugin process');
        this.#syncing = true;
        try {
          const r = await syncTables(call, { client, plugin: this.#name, logger: this.#log, signal });
          this.#log.info('sync finished', { tables: r.tables, rows: r.rows });
        } finally {
          this.#syncing = false;
        }
      }).then(
        () => call.end(),
        (err) => call.emit('error', serviceError(statusOf(err))),
      );
    },
    Write: (call: grpcTypes.ServerReadableStream<InstanceType<typeof v3.Write.Request>, unknown>, cb: grpcTypes.sendUnaryData<unknown>) => {
      this.#track(call, 'Write', async (signal) => {
        const { spec, caps, ctx } = this.#destination('Write');
        const session = await WriteSession.open({ connector: this.#opts.connectors.destination!, spec, caps, ctx });
        // a shutdown ends the wait for the next message
        signal.addEventListener('abort', () => call.destroy(), { once: true });
        try {
          for await (const req of call as AsyncIterable<InstanceType<typeof v3.Write.Request>>) {
            if (signal.aborted) break;
            await session.handle(req);
          }
          // grpc-js ends the request stream of a cancelled call before it reports the cancel: look again after the
          // events of this turn, and once more before the commit
          await new Promise((resolve) => setImmediate(resolve));
          const cancelled = () => {
            if (signal.aborted || call.cancelled) throw new AbortedError('the Write stream was cancelled: what it had not committed is rolled back');
          };
          cancelled();
          await session.finish(cancelled);
        } catch (err) {
          // a cancelled call ends the request stream early ("premature close"): say what happened
          const e = signal.aborted || call.cancelled ? new AbortedError('the Write stream was cancelled: what it had not committed is rolled back', err) : err;
          await session.abort(toCqPipeError(e)).catch((x: unknown) => this.#log.warn(`rolling back failed: ${(x as Error).message}`));
          throw e;
        }
        this.#log.info('write finished', { messages: session.messages, rows: session.rows });
        return new v3.Write.Response();
      }).then(
        (res) => cb(null, res),
        (err) => cb(serviceError(statusOf(err))),
      );
    },
    Read: (call: grpcTypes.ServerWritableStream<InstanceType<typeof v3.Read.Request>, InstanceType<typeof v3.Read.Response>>) => {
      this.#track(call, 'Read', async (signal) => {
        const { spec, ctx } = this.#destination('Read');
        const reader = readerFor(this.#name, spec, ctx);
        if (!reader) throw new UnsupportedError(`Read: cq-pipe's ${this.#name} destination keeps nothing it can read back`, { connector: this.#name });
        for await (const batch of reader(decodeSchema(call.request.table), signal)) {
          if (!call.write(new v3.Read.Response({ record: encodeRecord(batch) }))) await once(call, 'drain', { signal });
        }
      }).then(
        () => call.end(),
        (err) => call.emit('error', serviceError(statusOf(err))),
      );
    },
    Transform: (call: grpcTypes.ServerDuplexStream<unknown, unknown>) => {
      call.emit('error', serviceError(statusOf(new UnsupportedError(`Transform: cq-pipe's ${this.#name} plugin is not a transformer`))));
    },
    TransformSchema: (_call: unknown, cb: grpcTypes.sendUnaryData<unknown>) => {
      cb(serviceError(statusOf(new UnsupportedError(`TransformSchema: cq-pipe's ${this.#name} plugin is not a transformer`))));
    },
    Close: this.#unary('Close', async () => {
      await this.#closeSession();
      return new v3.Close.Response();
    }),
  };

  /** Abort every call in flight (writes roll back), wait up to `graceMs` for them, close the source. */
  async shutdown(graceMs: number): Promise<void> {
    for (const r of this.#running) r.abort.abort(new AbortedError('the plugin is shutting down'));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.allSettled([...this.#running].map((r) => r.done)), grace]);
    clearTimeout(timer);
    await this.#closeSession();
  }
}
