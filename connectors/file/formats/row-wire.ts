/**
 * What crosses the thread between the row worker (./row-worker.ts) and the file source
 * (./row-thread.ts): Arrow column data as its buffers (transferred, not copied: the receiver
 * rebuilds the Data on its own schema's types) and errors as plain data, rebuilt as the same
 * classes (CqPipeError subclasses with their code, context, hint and scope; RangeError for a stack
 * overflow; other errors with their name, message and code).
 */
import * as A from 'apache-arrow';
import * as errors from '../../../lib/errors.js';

/** one Data of a column tree, without its type (the receiver takes it from its schema) */
export interface WireData {
  offset: number;
  length: number;
  nullCount: number;
  /** valueOffsets, values, nullBitmap, typeIds (as apache-arrow's Data holds them) */
  buffers: (ArrayBufferView | undefined)[];
  children: WireData[];
}

/** the views whose whole buffer can move; a view into a larger buffer (Node's Buffer pool) is copied */
function movable(v: ArrayBufferView | undefined, transfer: Set<ArrayBuffer>): ArrayBufferView | undefined {
  if (!v) return v;
  const b = v.buffer;
  if (b instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === b.byteLength) {
    transfer.add(b);
    return v;
  }
  // a copy of the view's bytes, of the same type
  const C = v.constructor as new (buf: ArrayBuffer) => ArrayBufferView;
  const own = new ArrayBuffer(v.byteLength);
  new Uint8Array(own).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  transfer.add(own);
  return new C(own);
}

/** `data` as WireData; the buffers to transfer are added to `transfer` (each once) */
export function dataToWire(data: A.Data, transfer: Set<ArrayBuffer>): WireData {
  if (data.dictionary) throw new errors.InternalError('a dictionary column cannot cross to the file source thread');
  return {
    offset: data.offset,
    length: data.length,
    nullCount: data.nullCount,
    buffers: [data.valueOffsets, data.values, data.nullBitmap, data.typeIds].map((v) => movable(v as ArrayBufferView | undefined, transfer)),
    children: data.children.map((c) => dataToWire(c, transfer)),
  };
}

/** the Data of `w` typed `type` (the type it was built as, from the same schema) */
export function dataFromWire(type: A.DataType, w: WireData): A.Data {
  const children = w.children.map((c, i) => dataFromWire(type.children[i]!.type, c));
  return new A.Data(type, w.offset, w.length, w.nullCount, w.buffers as unknown as Partial<A.Data['buffers']>, children);
}

/** a batch as the WireData of its struct, and the rows it has */
export function batchToWire(batch: A.RecordBatch, transfer: Set<ArrayBuffer>): WireData {
  return dataToWire(batch.data, transfer);
}

export function batchFromWire(schema: A.Schema, w: WireData): A.RecordBatch {
  return new A.RecordBatch(schema, dataFromWire(new A.Struct(schema.fields), w) as A.Data<A.Struct>);
}

/** an error as data */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** CQ_ERR_* for a CqPipeError; Node's code (ENOENT, ...) otherwise */
  code?: string;
  cq?: { context: errors.ErrorContext; hint?: string; scope: errors.ErrorScope; retryable: boolean };
  cause?: WireError;
}

export function errorToWire(err: unknown, depth = 0): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const w: WireError = { name: err.name, message: err.message, stack: err.stack };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') w.code = code;
  if (err instanceof errors.CqPipeError) w.cq = { context: { ...err.context }, hint: err.hint, scope: err.scope, retryable: err.retryable };
  if (err.cause !== undefined && depth < 3) w.cause = errorToWire(err.cause, depth + 1);
  return w;
}

/** the CqPipeError subclasses by name */
const CLASSES = new Map<string, object>(
  Object.values(errors)
    .filter(
      (v): v is typeof errors.CqPipeError =>
        typeof v === 'function' && v.prototype instanceof Error && (v === errors.CqPipeError || v.prototype instanceof errors.CqPipeError),
    )
    .map((c) => [c.name, c.prototype as object]),
);

export function errorFromWire(w: WireError): Error {
  const cause = w.cause ? errorFromWire(w.cause) : undefined;
  let e: Error;
  if (w.cq && w.code) {
    e = new errors.CqPipeError(w.code as errors.ErrorCode, w.message, { ...w.cq, cause });
    const proto = CLASSES.get(w.name);
    if (proto) Object.setPrototypeOf(e, proto);
  } else {
    e =
      w.name === 'RangeError'
        ? new RangeError(w.message, { cause })
        : w.name === 'TypeError'
          ? new TypeError(w.message, { cause })
          : new Error(w.message, { cause });
    if (w.code) Object.assign(e, { code: w.code });
  }
  e.name = w.name;
  if (w.stack) e.stack = w.stack;
  return e;
}
