/**
 * `cloudquery.discovery.v1.Discovery/GetVersions` served by hand (docs/plugins.md): the reply is
 * `repeated int32 versions = 1`, written packed as proto3 does (field 1, wire type 2), which the
 * Go CLI decodes. The generated stub of plugin-pb-javascript 0.0.39 cannot be trusted with
 * google-protobuf 4 for this message, so the bytes are written here.
 */
import type { grpcTypes } from './grpc.js';

/** The plugin protocol versions served: v3 only. */
export const PROTOCOL_VERSIONS = [3] as const;

function varint(n: number): number[] {
  const out: number[] = [];
  let x = n;
  while (x >= 0x80) {
    out.push((x & 0x7f) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
  return out;
}

/** A `GetVersions.Response` with `versions` packed. */
export function encodeVersions(versions: readonly number[]): Buffer {
  if (versions.length === 0) return Buffer.alloc(0);
  const payload = versions.flatMap(varint);
  return Buffer.from([0x0a, ...varint(payload.length), ...payload]);
}

/** The Discovery service: its one method, with raw (de)serializers. */
export const discoveryService: grpcTypes.ServiceDefinition = {
  GetVersions: {
    path: '/cloudquery.discovery.v1.Discovery/GetVersions',
    requestStream: false,
    responseStream: false,
    requestSerialize: () => Buffer.alloc(0),
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (v: readonly number[]) => encodeVersions(v),
    responseDeserialize: (b: Buffer) => b,
  },
};

export const discoveryHandlers: grpcTypes.UntypedServiceImplementation = {
  GetVersions: (_call: grpcTypes.ServerUnaryCall<Buffer, readonly number[]>, cb: grpcTypes.sendUnaryData<readonly number[]>) => cb(null, PROTOCOL_VERSIONS),
};
