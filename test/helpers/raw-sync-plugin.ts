/**
 * A source plugin in the test process, written against the generated protocol stubs (grpc-js, the
 * pb classes cq-pipe uses) rather than an SDK: discovery v3, Init, GetTables and a Sync that sends
 * exactly the responses it is given, in order (what an SDK cannot be made to send: a delete_record
 * between inserts, unknown enum values). Stopped at teardown.
 */
import type { Test } from 'tap';
import { discoveryHandlers, discoveryService } from '../../connectors/cloudquery-plugin/serve/discovery.js';
import { grpc, type grpcTypes, v3 } from '../../connectors/cloudquery-plugin/serve/grpc.js';

export type SyncResponse = InstanceType<typeof v3.Sync.Response>;

export interface RawSyncPlugin {
  address: string;
  /** the Sync requests received */
  syncs: InstanceType<typeof v3.Sync.Request>[];
}

/** Serve `tables` (IPC schemas) and, for every Sync, `responses` then the end of the stream. */
export async function serveRawSync(t: Test, tables: Uint8Array[], responses: SyncResponse[]): Promise<RawSyncPlugin> {
  const server = new grpc.Server();
  const syncs: RawSyncPlugin['syncs'] = [];
  const unary =
    <Res>(make: () => Res) =>
    (_call: unknown, cb: grpcTypes.sendUnaryData<Res>) =>
      cb(null, make());
  server.addService(discoveryService, discoveryHandlers);
  server.addService(v3.UnimplementedPluginService.definition, {
    GetName: unary(() => new v3.GetName.Response({ name: 'raw-sync' })),
    GetVersion: unary(() => new v3.GetVersion.Response({ version: 'v1.0.0' })),
    GetSpecSchema: unary(() => new v3.GetSpecSchema.Response({})),
    Init: unary(() => new v3.Init.Response()),
    GetTables: unary(() => new v3.GetTables.Response({ tables })),
    Close: unary(() => new v3.Close.Response()),
    Sync: async (call: grpcTypes.ServerWritableStream<InstanceType<typeof v3.Sync.Request>, SyncResponse>) => {
      syncs.push(call.request);
      for (const r of responses) {
        if (!call.write(r)) await new Promise((resolve) => call.once('drain', resolve));
      }
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => server.forceShutdown());
  return { address: `127.0.0.1:${port}`, syncs };
}
