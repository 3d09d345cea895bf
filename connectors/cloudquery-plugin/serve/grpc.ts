/**
 * gRPC plumbing of the plugin server (docs/plugins.md, "Using cq-pipe's connectors from the
 * CloudQuery CLI"): the one CommonJS copy of grpc-js the generated stubs use, the CloudQuery
 * message limits, and cq-pipe errors turned into gRPC statuses whose details say what failed,
 * where, and how to fix it.
 */
import { createRequire } from 'node:module';
import type * as grpcTypes from '@grpc/grpc-js';
import { pluginV3 } from '@cloudquery/plugin-pb-javascript';
import { type CqPipeError, toCqPipeError } from '../../../lib/errors.js';

const require = createRequire(import.meta.url);
// the generated service definitions require this same copy
export const grpc = require('@grpc/grpc-js') as typeof grpcTypes;
export type { grpcTypes };

export const v3 = pluginV3.cloudquery.plugin.v3;

/** The CloudQuery CLI's and Go SDK's limits: 200 MiB sent and received. */
export const MAX_MESSAGE_BYTES = 200 * 1024 * 1024;

/** A status a handler ends a call with: a gRPC code and a message for the CLI's log. */
export interface CallStatus {
  code: grpcTypes.status;
  details: string;
}

/** The one line the CLI prints for an error: code, message, where, hint. */
export function errorText(e: CqPipeError): string {
  const where = e.where();
  return `${e.code}: ${e.message}${where && !e.message.includes(where) ? ` (${where})` : ''}${e.hint ? ` — hint: ${e.hint}` : ''}`;
}

/** The gRPC status of an error: bad input → INVALID_ARGUMENT, unsupported → UNIMPLEMENTED, aborted → CANCELLED, else INTERNAL. */
export function statusOf(err: unknown): CallStatus {
  const e = toCqPipeError(err);
  const code = (() => {
    switch (e.code) {
      case 'CQ_ERR_CONFIG_INVALID':
      case 'CQ_ERR_USAGE':
      case 'CQ_ERR_TABLE_PATTERN':
      case 'CQ_ERR_SCHEMA_INCOMPATIBLE':
      case 'CQ_ERR_SOURCE_DATA':
        return grpc.status.INVALID_ARGUMENT;
      case 'CQ_ERR_UNSUPPORTED':
        return grpc.status.UNIMPLEMENTED;
      case 'CQ_ERR_ABORTED':
        return grpc.status.CANCELLED;
      default:
        return grpc.status.INTERNAL;
    }
  })();
  return { code, details: errorText(e) };
}

/** A status as the error object grpc-js sends (callbacks and `emit('error')`). */
export function serviceError(s: CallStatus): Partial<grpcTypes.ServiceError> {
  return { code: s.code, details: s.details, message: s.details };
}

/** UNIMPLEMENTED, with what is not implemented (the CLI special-cases this code). */
export function unimplemented(what: string): CallStatus {
  return { code: grpc.status.UNIMPLEMENTED, details: what };
}
