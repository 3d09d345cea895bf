/**
 * The state backend cq-pipe serves to a CloudQuery plugin source for the duration of one sync
 * (docs/plugins.md "State for plugin sources"): a gRPC plugin-v3 server on a private unix socket
 * that answers the calls of the CloudQuery SDK's state client — discovery `[3]`, `Init`, `Write`
 * (`migrate_table` of the state table, `insert` of changed keys), `Read` of the state table, `Close`;
 * every other call is UNIMPLEMENTED. It never writes the source's StateBackend itself: what the
 * plugin writes is held here, and the plugin source turns it into a `checkpoint` message once the
 * Sync stream has ended (docs/incremental.md), so the state is persisted only after every
 * destination committed every row the plugin sent.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as grpcTypes from '@grpc/grpc-js';
import * as A from 'apache-arrow';
import type { Logger } from '../../lib/logger.js';
import { MD_TABLE_NAME } from '../../lib/schema.js';
import { decodeRecord, decodeSchema, encodeRecord } from './arrow-wire.js';
import { MAX_MESSAGE_BYTES, v3 } from './grpc-client.js';

const require = createRequire(import.meta.url);
// the generated service definitions are built on this same CommonJS copy
const grpc = require('@grpc/grpc-js') as typeof grpcTypes;

/** The longest unix socket path (`sun_path` holds 108 bytes, the last one a NUL). */
export const MAX_SOCKET_PATH = 107;

/** Rows per `Read` record: a large state leaves in several records, each far below the message limit. */
const READ_ROWS_PER_RECORD = 10_000;

/** `cloudquery.discovery.v1.GetVersions` reply: `repeated int32 versions = 1` packed, here `[3]`. */
const VERSIONS_REPLY = Buffer.from([0x0a, 0x01, 0x03]);

const discoveryService: grpcTypes.ServiceDefinition = {
  GetVersions: {
    path: '/cloudquery.discovery.v1.Discovery/GetVersions',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

interface Versioned {
  value: string;
  version: bigint;
}

type WriteRequest = InstanceType<typeof v3.Write.Request>;
type ReadRequest = InstanceType<typeof v3.Read.Request>;
type ReadResponse = InstanceType<typeof v3.Read.Response>;
type ServiceFailure = Partial<grpcTypes.StatusObject>;

export interface StateServiceOptions {
  /** `backend_options.table_name`: the one table the service keeps */
  tableName: string;
  /** the state the source's backend holds (persisted by earlier syncs) */
  saved: ReadonlyMap<string, string>;
  /** names the plugin in log lines */
  plugin: string;
  logger: Logger;
  /** `unix` (default) or `tcp` (127.0.0.1, a free port; also used when the socket path would be too long) */
  network?: 'unix' | 'tcp';
}

/** A failure the plugin receives as a gRPC status with a message saying what to fix. */
function failure(code: grpcTypes.status, details: string): ServiceFailure {
  return { code, details };
}

export class StateService {
  /** keys written by this sync's plugin (completed Write streams), with the plugin's versions */
  readonly #written = new Map<string, Versioned>();
  #openWrites = 0;
  #settled: (() => void)[] = [];
  /** no new Write streams */
  #sealed = false;
  /** no Write applied any more (after the grace of `seal`) */
  #frozen = false;
  /** Write streams with an insert that were applied, for tests and log lines */
  writes = 0;

  private constructor(
    private readonly server: grpcTypes.Server,
    /** the address the plugin dials: `unix:///…sock` or `127.0.0.1:port` */
    readonly address: string,
    private readonly socket: string | undefined,
    private readonly opts: StateServiceOptions,
  ) {}

  /** Bind the server (a fresh unix socket under the temp directory, or TCP on 127.0.0.1). */
  static async start(opts: StateServiceOptions): Promise<StateService> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
    let socket: string | undefined = path.join(os.tmpdir(), `cq-pipe-state-${randomBytes(6).toString('hex')}.sock`);
    if (opts.network === 'tcp' || Buffer.byteLength(socket) > MAX_SOCKET_PATH) socket = undefined;
    const bindTo = socket ? `unix:${socket}` : '127.0.0.1:0';
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(bindTo, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const service = new StateService(server, socket ? `unix://${socket}` : `127.0.0.1:${port}`, socket, opts);
    server.addService(discoveryService, { GetVersions: (_call: unknown, cb: grpcTypes.sendUnaryData<Buffer>) => cb(null, VERSIONS_REPLY) });
    // the methods not given here answer UNIMPLEMENTED (grpc-js fills them in)
    server.addService(v3.UnimplementedPluginService.definition, {
      Init: (_call: unknown, cb: grpcTypes.sendUnaryData<unknown>) => cb(null, new v3.Init.Response()),
      Close: (_call: unknown, cb: grpcTypes.sendUnaryData<unknown>) => cb(null, new v3.Close.Response()),
      Write: (call: grpcTypes.ServerReadableStream<WriteRequest, unknown>, cb: grpcTypes.sendUnaryData<unknown>) => service.#write(call, cb),
      Read: (call: grpcTypes.ServerWritableStream<ReadRequest, ReadResponse>) => service.#read(call),
    });
    return service;
  }

  /** what the plugin's state client sees at `Read`: the saved state, overlaid with this sync's own writes */
  snapshot(): Map<string, Versioned> {
    const out = new Map<string, Versioned>([...this.opts.saved].map(([k, value]) => [k, { value, version: 0n }]));
    for (const [k, v] of this.#written) {
      if (v.value === '') out.delete(k);
      else out.set(k, v);
    }
    return out;
  }

  /**
   * Stop taking writes (a later Write gets FAILED_PRECONDITION), wait up to `graceMs` for the Write
   * streams still open, and return every key this sync's plugin wrote (an empty value removes a key).
   */
  async seal(graceMs = 5000): Promise<Record<string, string>> {
    this.#sealed = true;
    if (this.#openWrites > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#settled.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (this.#openWrites > 0) this.opts.logger.warn(`${this.opts.plugin}: a state write still open when its sync ended is not kept`);
    }
    // writes that complete from now on are not part of this sync's checkpoint
    this.#frozen = true;
    const out: Record<string, string> = {};
    for (const [k, v] of this.#written) out[k] = v.value;
    return out;
  }

  /** Shut the server down and remove its socket; never throws. */
  async stop(): Promise<void> {
    this.#sealed = true;
    this.#frozen = true;
    this.server.forceShutdown();
    if (this.socket) await rm(this.socket, { force: true }).catch(() => {});
  }

  /** The table a `migrate_table` / `Read` / `insert` schema names, checked to be the state table. */
  #checkTable(schema: A.Schema, what: string): ServiceFailure | undefined {
    const name = schema.metadata.get(MD_TABLE_NAME);
    if (name !== this.opts.tableName) {
      return failure(
        grpc.status.INVALID_ARGUMENT,
        `cq-pipe's state service keeps one table, ${this.opts.tableName} (the source's backend_options.table_name); ${what} names ${name ?? 'no table'}`,
      );
    }
    const [key, value, version] = schema.fields.map((f) => f.type);
    const ok = isUtf8(key) && isUtf8(value) && (version === undefined || isUint64(version));
    if (!ok) {
      const got = schema.fields.map((f) => `${f.name} ${f.type}`).join(', ');
      return failure(grpc.status.INVALID_ARGUMENT, `the state table ${name} has columns (key utf8, value utf8[, version uint64]); ${what} has (${got})`);
    }
    return undefined;
  }

  #write(call: grpcTypes.ServerReadableStream<WriteRequest, unknown>, cb: grpcTypes.sendUnaryData<unknown>): void {
    if (this.#sealed) {
      cb(failure(grpc.status.FAILED_PRECONDITION, 'the Sync stream of this plugin has ended: cq-pipe keeps only state written before its end'));
      return;
    }
    this.#openWrites++;
    const staged: [string, Versioned][] = [];
    let problem: ServiceFailure | undefined;
    let inserts = 0;
    let done = false;
    const finish = (apply: boolean) => {
      if (done) return;
      done = true;
      if (apply && !problem && !this.#frozen) {
        for (const [k, v] of staged) {
          const cur = this.#written.get(k);
          // the highest version wins; an equal version written later replaces the earlier value
          if (!cur || v.version >= cur.version) this.#written.set(k, v);
        }
        if (inserts > 0) this.writes++;
        if (staged.length) this.opts.logger.debug(`${this.opts.plugin}: state write of ${staged.length} key(s), held until its Sync stream ends`);
      }
      if (--this.#openWrites === 0) for (const f of this.#settled.splice(0)) f();
    };
    call.on('data', (req: WriteRequest) => {
      if (problem) return;
      try {
        if (req.has_migrate_table) problem = this.#checkTable(decodeSchema(req.migrate_table.table), 'migrate_table');
        else if (req.has_insert) {
          inserts++;
          problem = this.#stageInsert(req.insert.record, staged);
        } else problem = failure(grpc.status.UNIMPLEMENTED, `cq-pipe's state service takes migrate_table and insert, not ${req.message}`);
      } catch (err) {
        problem = failure(grpc.status.INVALID_ARGUMENT, `cannot decode the state write: ${(err as Error).message}`);
      }
    });
    call.on('end', () => {
      const p = problem;
      finish(true);
      if (p) cb(p);
      else cb(null, new v3.Write.Response());
    });
    call.on('error', () => finish(false));
    call.on('cancelled', () => finish(false));
  }

  /** The rows of one `insert` record, read by position as (key, value[, version]). */
  #stageInsert(record: Uint8Array, staged: [string, Versioned][]): ServiceFailure | undefined {
    const { schema, batches } = decodeRecord(record);
    const bad = this.#checkTable(schema, 'insert');
    if (bad) return bad;
    for (const b of batches) {
      const keys = b.getChildAt(0)!;
      const values = b.getChildAt(1)!;
      const versions = b.numCols > 2 ? b.getChildAt(2) : null;
      for (let i = 0; i < b.numRows; i++) {
        const key = keys.get(i) as string | null;
        if (key === null) return failure(grpc.status.INVALID_ARGUMENT, `row ${i + 1} of the state insert has a null key`);
        const version = versions?.get(i) as bigint | null | undefined;
        staged.push([key, { value: (values.get(i) as string | null) ?? '', version: version ?? 0n }]);
      }
    }
    return undefined;
  }

  #read(call: grpcTypes.ServerWritableStream<ReadRequest, ReadResponse>): void {
    let schema: A.Schema;
    try {
      schema = decodeSchema(call.request.table);
    } catch (err) {
      call.destroy(Object.assign(new Error(`cannot decode the Read table: ${(err as Error).message}`), { code: grpc.status.INVALID_ARGUMENT }));
      return;
    }
    const bad = this.#checkTable(schema, 'Read');
    if (bad) {
      call.destroy(Object.assign(new Error(bad.details), { code: bad.code }));
      return;
    }
    const rows = [...this.snapshot()];
    for (let at = 0; at < rows.length; at += READ_ROWS_PER_RECORD) {
      call.write(new v3.Read.Response({ record: encodeRecord(stateBatch(schema, rows.slice(at, at + READ_ROWS_PER_RECORD))) }));
    }
    call.end();
  }
}

function isUtf8(t: A.DataType | undefined): boolean {
  return t !== undefined && A.DataType.isUtf8(t);
}

function isUint64(t: A.DataType): boolean {
  return A.DataType.isInt(t) && !t.isSigned && t.bitWidth === 64;
}

/** One batch of state rows in the requested schema: key, value[, version] by position. */
function stateBatch(schema: A.Schema, rows: [string, Versioned][]): A.RecordBatch {
  const children: A.Data[] = [
    A.vectorFromArray(
      rows.map(([k]) => k),
      new A.Utf8(),
    ).data[0]!,
    A.vectorFromArray(
      rows.map(([, v]) => v.value),
      new A.Utf8(),
    ).data[0]!,
  ];
  if (schema.fields.length > 2) {
    children.push(A.makeData({ type: new A.Uint64(), length: rows.length, data: BigUint64Array.from(rows.map(([, v]) => v.version)) }));
  }
  const fields = schema.fields.slice(0, children.length);
  const rowSchema = new A.Schema(fields, schema.metadata);
  return new A.RecordBatch(rowSchema, A.makeData({ type: new A.Struct(fields), length: rows.length, nullCount: 0, children }));
}
