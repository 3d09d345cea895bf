/**
 * Postgres binary COPY → Arrow columns, decoded straight from the wire bytes into typed arrays
 * (no per-value JS objects for fixed-width types; text, json and bytea are copied as bytes).
 */
import * as A from 'apache-arrow';
import { bitmapBytes, setBit } from '../../lib/arrow/bitmap.js';
import { makeDataOf } from '../../lib/arrow/data.js';
import { formatDecimal, writeDecimal } from '../../lib/arrow/decimal.js';
import {
  DATE_INFINITY,
  DATE_NEG_INFINITY,
  dayToDateString,
  microsToIso,
  PG_EPOCH_DAYS,
  PG_EPOCH_US,
  TS_INFINITY,
  TS_NEG_INFINITY,
} from '../../lib/arrow/time.js';

const PG_TS_INFINITY = 0x7fffffffffffffffn;
import { uuidToString } from '../../lib/arrow/uuid.js';
import { CqPipeError } from '../../lib/errors.js';
import { extensionOf } from '../../lib/types.js';

/** COPY data the source cannot turn into its Arrow column (the source reports it with its table). */
export class DecodeError extends CqPipeError {
  constructor(message: string) {
    super('CQ_ERR_SOURCE_READ', message, { scope: 'table' });
    this.name = 'DecodeError';
  }
}

/** one column being filled; `push` reads a value of `len` bytes at `pos` of `buf` */
export interface ColumnDecoder {
  push(buf: Buffer, pos: number, len: number): void;
  pushNull(): void;
  /** the last value as state text (for cursors) */
  lastText(): string | undefined;
  finish(): A.Data;
  readonly length: number;
}

class Validity {
  bits = new Uint8Array(1024);
  nulls = 0;
  set(i: number, valid: boolean): void {
    if (i >> 3 >= this.bits.length) {
      const b = new Uint8Array(this.bits.length * 2);
      b.set(this.bits);
      this.bits = b;
    }
    if (valid) setBit(this.bits, i);
    else this.nulls++;
  }
  take(n: number): { nullBitmap?: Uint8Array; nullCount: number } {
    const r = this.nulls ? { nullBitmap: this.bits.slice(0, bitmapBytes(n)), nullCount: this.nulls } : { nullCount: 0 };
    this.bits = new Uint8Array(1024);
    this.nulls = 0;
    return r;
  }
}

function grow<T extends Int32Array | Float32Array | Float64Array | Int16Array | Uint32Array | Uint8Array | BigInt64Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const C = a.constructor as new (n: number) => T;
  const b = new C(Math.max(need, a.length * 2));
  (b as unknown as { set(src: T): void }).set(a);
  return b;
}

type Reader = (buf: Buffer, pos: number, len: number) => number | bigint;

/** fixed-width numbers (ints, floats, dates, times, timestamps) */
class FixedDecoder implements ColumnDecoder {
  length = 0;
  private values: Int16Array | Int32Array | Float32Array | Float64Array | BigInt64Array;
  private valid = new Validity();
  constructor(
    private readonly type: A.DataType,
    private readonly read: Reader,
    private readonly text: (v: number | bigint) => string,
    Ctor: new (n: number) => Int16Array | Int32Array | Float32Array | Float64Array | BigInt64Array,
  ) {
    this.values = new Ctor(1024);
  }
  push(buf: Buffer, pos: number, len: number): void {
    this.values = grow(this.values, this.length + 1);
    (this.values as unknown as (number | bigint)[])[this.length] = this.read(buf, pos, len);
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.values = grow(this.values, this.length + 1);
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    return this.length ? this.text((this.values as unknown as (number | bigint)[])[this.length - 1]!) : undefined;
  }
  finish(): A.Data {
    const n = this.length;
    const data = this.values.slice(0, n);
    const v = this.valid.take(n);
    this.length = 0;
    return makeDataOf({ type: this.type, length: n, ...v, data });
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** PG_EPOCH_US as two 32-bit halves */
const EPOCH_HI = Math.floor(Number(PG_EPOCH_US) / 2 ** 32);
const EPOCH_LO = Number(PG_EPOCH_US) - EPOCH_HI * 2 ** 32;

/**
 * int8, time and timestamp columns, copied as two 32-bit halves into the BigInt64Array's memory
 * (little-endian hosts): no BigInt per value. Timestamps are moved to the Unix epoch with a
 * carrying add, Postgres' ±infinity mapped to the sentinels.
 */
class Int64Decoder implements ColumnDecoder {
  length = 0;
  private values = new BigInt64Array(1024);
  private halves = new Int32Array(this.values.buffer);
  private valid = new Validity();
  constructor(
    private readonly type: A.DataType,
    /** a timestamp column (its name for errors), else undefined */
    private readonly timestamp: string | undefined,
    private readonly text: (v: number | bigint) => string,
  ) {}
  #room(): void {
    if (this.length < this.values.length) return;
    this.values = grow(this.values, this.length + 1);
    this.halves = new Int32Array(this.values.buffer);
  }
  push(buf: Buffer, pos: number): void {
    this.#room();
    let hi = (buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!;
    let lo = (buf[pos + 4]! << 24) | (buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!;
    if (this.timestamp !== undefined) {
      if (hi === -0x80000000 && lo === 0)
        lo = 1; // -infinity → TS_NEG_INFINITY; +infinity has TS_INFINITY's bits
      else if (!(hi === 0x7fffffff && lo === -1)) {
        const l = (lo >>> 0) + EPOCH_LO;
        const h = hi + EPOCH_HI + (l >= 2 ** 32 ? 1 : 0);
        if (h > 0x7fffffff || (h === 0x7fffffff && l % 2 ** 32 === 2 ** 32 - 1)) {
          throw new DecodeError(`column "${this.timestamp}": a timestamp past year 294246 does not fit µs since 1970`);
        }
        hi = h;
        lo = (l % 2 ** 32) | 0;
      }
    }
    const i = this.length * 2;
    this.halves[i] = lo;
    this.halves[i + 1] = hi;
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.#room();
    this.values[this.length] = 0n;
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    return this.length ? this.text(this.values[this.length - 1]!) : undefined;
  }
  finish(): A.Data {
    const n = this.length;
    const data = this.values.slice(0, n);
    const v = this.valid.take(n);
    this.length = 0;
    return makeDataOf({ type: this.type, length: n, ...v, data });
  }
}

class BoolDecoder implements ColumnDecoder {
  length = 0;
  private values = new Validity();
  private valid = new Validity();
  push(buf: Buffer, pos: number): void {
    this.values.set(this.length, buf[pos] === 1);
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.values.set(this.length, false);
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    return undefined;
  }
  finish(): A.Data {
    const n = this.length;
    const data = this.values.bits.slice(0, bitmapBytes(n));
    this.values = new Validity();
    const v = this.valid.take(n);
    this.length = 0;
    return makeDataOf({ type: new A.Bool(), length: n, ...v, data });
  }
}

/** utf8 / binary / json: bytes copied as they are (json: jsonb's version byte dropped) */
class VarDecoder implements ColumnDecoder {
  length = 0;
  private offsets = new Int32Array(1025);
  private data = new Uint8Array(1 << 16);
  private size = 0;
  private valid = new Validity();
  constructor(
    private readonly type: A.DataType,
    private readonly skip = 0,
  ) {}
  push(buf: Buffer, pos: number, len: number): void {
    const n = len - this.skip;
    this.data = grow(this.data, this.size + n);
    const from = pos + this.skip;
    if (n < 48) {
      // short values: a byte loop beats the native copy's call overhead
      const d = this.data;
      for (let k = 0, o = this.size; k < n; k++) d[o + k] = buf[from + k]!;
    } else {
      buf.copy(this.data, this.size, from, pos + len);
    }
    this.size += n;
    this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.size;
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.size;
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    if (!this.length) return undefined;
    return Buffer.from(
      this.data.buffer,
      this.data.byteOffset + this.offsets[this.length - 1]!,
      this.offsets[this.length]! - this.offsets[this.length - 1]!,
    ).toString('utf8');
  }
  finish(): A.Data {
    const n = this.length;
    const r = makeDataOf({
      type: this.type,
      length: n,
      ...this.valid.take(n),
      valueOffsets: this.offsets.slice(0, n + 1),
      data: this.data.slice(0, this.size),
    });
    this.offsets = new Int32Array(1025);
    this.size = 0;
    this.length = 0;
    return r;
  }
}

class UuidDecoder implements ColumnDecoder {
  length = 0;
  private data = new Uint8Array(16 * 1024);
  private valid = new Validity();
  push(buf: Buffer, pos: number): void {
    this.data = grow(this.data, (this.length + 1) * 16);
    // 16 bytes: a loop beats the native copy's call overhead
    const d = this.data;
    for (let k = 0, o = this.length * 16; k < 16; k++) d[o + k] = buf[pos + k]!;
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.data = grow(this.data, (this.length + 1) * 16);
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    return this.length ? uuidToString(this.data, (this.length - 1) * 16) : undefined;
  }
  finish(): A.Data {
    const n = this.length;
    const r = makeDataOf({ type: new A.FixedSizeBinary(16), length: n, ...this.valid.take(n), data: this.data.slice(0, n * 16) });
    this.length = 0;
    return r;
  }
}

/** numeric (binary: ndigits, weight, sign, dscale, base-10000 digits) → decimal128 at the column scale */
export function numericToUnscaled(buf: Buffer, pos: number, scale: number): bigint | null {
  const ndigits = buf.readInt16BE(pos);
  const weight = buf.readInt16BE(pos + 2);
  const sign = buf.readUInt16BE(pos + 4);
  if (sign === 0xc000 || sign === 0xd000 || sign === 0xf000) return null; // NaN, ±Infinity
  let v = 0n;
  // value = sum(digit_i * 10000^(weight - i)); scaled by 10^scale
  for (let i = 0; i < ndigits; i++) v = v * 10000n + BigInt(buf.readInt16BE(pos + 8 + i * 2));
  // v currently = value * 10000^(ndigits - 1 - weight)
  const exp10 = 4 * (ndigits - 1 - weight); // value = v / 10^exp10
  const shift = scale - exp10;
  if (shift >= 0) v *= 10n ** BigInt(shift);
  else v /= 10n ** BigInt(-shift);
  return sign === 0x4000 ? -v : v;
}

class DecimalDecoder implements ColumnDecoder {
  length = 0;
  private data = new Uint32Array(4 * 1024);
  private valid = new Validity();
  private last?: bigint;
  constructor(
    private readonly type: A.Decimal,
    private readonly column: string,
  ) {}
  push(buf: Buffer, pos: number): void {
    const v = numericToUnscaled(buf, pos, this.type.scale);
    if (v === null) throw new DecodeError(`column "${this.column}": NaN or Infinity does not fit decimal(${this.type.precision},${this.type.scale})`);
    this.data = grow(this.data, (this.length + 1) * 4);
    writeDecimal(this.data, this.length, 4, v);
    this.last = v;
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.data = grow(this.data, (this.length + 1) * 4);
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    return this.last === undefined ? undefined : formatDecimal(this.last, this.type.scale);
  }
  finish(): A.Data {
    const n = this.length;
    const r = makeDataOf({ type: this.type, length: n, ...this.valid.take(n), data: this.data.slice(0, n * 4) });
    this.length = 0;
    return r;
  }
}

/** one-dimensional arrays → list<T> */
class ListDecoder implements ColumnDecoder {
  length = 0;
  private offsets = new Int32Array(1025);
  private valid = new Validity();
  constructor(
    private readonly type: A.List,
    private readonly child: ColumnDecoder,
  ) {}
  push(buf: Buffer, pos: number): void {
    const ndim = buf.readInt32BE(pos);
    let p = pos + 12;
    if (ndim > 1) throw new DecodeError('multi-dimensional arrays are not supported');
    if (ndim === 1) {
      const n = buf.readInt32BE(p);
      p += 8;
      for (let i = 0; i < n; i++) {
        const len = buf.readInt32BE(p);
        p += 4;
        if (len < 0) this.child.pushNull();
        else {
          this.child.push(buf, p, len);
          p += len;
        }
      }
    }
    this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.child.length;
    this.valid.set(this.length++, true);
  }
  pushNull(): void {
    this.offsets = grow(this.offsets, this.length + 2);
    this.offsets[this.length + 1] = this.child.length;
    this.valid.set(this.length++, false);
  }
  lastText(): string | undefined {
    return undefined;
  }
  finish(): A.Data {
    const n = this.length;
    const r = makeDataOf({ type: this.type, length: n, ...this.valid.take(n), valueOffsets: this.offsets.slice(0, n + 1), child: this.child.finish() });
    this.offsets = new Int32Array(1025);
    this.length = 0;
    return r;
  }
}

const fmtInt = (v: number | bigint) => String(v);

/** a decoder for a column of Arrow field `f` whose wire type is Postgres `pgType` (format_type name) */
export function decoderFor(f: A.Field, pgType: string): ColumnDecoder {
  const t = f.type as A.DataType;
  const ext = extensionOf(f);
  if (ext === 'uuid') return new UuidDecoder();
  if (ext === 'json') return new VarDecoder(new A.Binary(), pgType === 'jsonb' ? 1 : 0);
  if (ext === 'inet') return new VarDecoder(new A.Binary()); // selected as text
  switch (t.typeId) {
    case A.Type.Bool:
      return new BoolDecoder();
    case A.Type.Int: {
      const bw = (t as A.Int).bitWidth;
      if (bw === 16) return new FixedDecoder(t, (b, p) => b.readInt16BE(p), fmtInt, Int16Array);
      if (bw === 32) return new FixedDecoder(t, (b, p) => b.readInt32BE(p), fmtInt, Int32Array);
      if (LITTLE_ENDIAN) return new Int64Decoder(t, undefined, fmtInt);
      return new FixedDecoder(t, (b, p) => b.readBigInt64BE(p), fmtInt, BigInt64Array);
    }
    case A.Type.Float:
      if ((t as A.Float).precision === A.Precision.SINGLE) return new FixedDecoder(t, (b, p) => b.readFloatBE(p), fmtInt, Float32Array);
      return new FixedDecoder(t, (b, p) => b.readDoubleBE(p), fmtInt, Float64Array);
    case A.Type.Decimal:
      return new DecimalDecoder(t as A.Decimal, f.name);
    case A.Type.Utf8:
    case A.Type.Binary:
      return new VarDecoder(t);
    case A.Type.Date:
      // Postgres' ±infinity → the sentinels of lib/arrow/time.ts (no finite Postgres date reaches them)
      return new FixedDecoder(
        t,
        (b, p) => {
          const d = b.readInt32BE(p);
          return d === 0x7fffffff ? DATE_INFINITY : d === -0x80000000 ? DATE_NEG_INFINITY : d + PG_EPOCH_DAYS;
        },
        (v) => dayToDateString(Number(v)),
        Int32Array,
      );
    case A.Type.Time:
      if (LITTLE_ENDIAN) return new Int64Decoder(t, undefined, fmtInt);
      return new FixedDecoder(t, (b, p) => b.readBigInt64BE(p), fmtInt, BigInt64Array);
    case A.Type.Timestamp:
      if (LITTLE_ENDIAN) return new Int64Decoder(t, f.name, (v) => microsToIso(v as bigint));
      // Postgres' ±infinity → the sentinels; finite timestamps past 294246 AD do not fit µs since 1970
      return new FixedDecoder(
        t,
        (b, p) => {
          const x = b.readBigInt64BE(p);
          if (x === PG_TS_INFINITY) return TS_INFINITY;
          if (x === -PG_TS_INFINITY - 1n) return TS_NEG_INFINITY;
          const us = x + PG_EPOCH_US;
          if (us >= TS_INFINITY) throw new DecodeError(`column "${f.name}": a timestamp past year 294246 does not fit µs since 1970`);
          return us;
        },
        (v) => microsToIso(v as bigint),
        BigInt64Array,
      );
    case A.Type.List: {
      const child = (t as A.List).children[0]!;
      return new ListDecoder(t as A.List, decoderFor(child, pgType.replace(/\[\]$/, '')));
    }
    default:
      throw new DecodeError(`no decoder for ${String(t)}`);
  }
}

/**
 * Splits a binary COPY byte stream into tuples and feeds the decoders. Tuples may span chunks.
 * Returns after each chunk; `rows` counts complete tuples.
 */
export class CopyTupleParser {
  private pending: Buffer | undefined;
  private headerDone = false;
  ended = false;
  constructor(private readonly decoders: ColumnDecoder[]) {}

  /** feed a chunk; calls onRow after each complete tuple (to cut batches) */
  feed(chunk: Buffer, onRow: () => void): void {
    if (this.ended) return;
    const p = this.pending;
    if (p) {
      // finish the tuple split across chunks from a small joined head, not by copying the whole chunk
      this.pending = undefined;
      for (let k = Math.min(chunk.length, 4096); ; k = Math.min(chunk.length, k * 4)) {
        const head = Buffer.concat([p, chunk.subarray(0, k)]);
        const used = this.parse(head, onRow);
        if (this.ended) return;
        if (used >= p.length) {
          chunk = chunk.subarray(used - p.length);
          break;
        }
        if (k === chunk.length) {
          this.pending = head.subarray(used);
          return;
        }
      }
    }
    const pos = this.parse(chunk, onRow);
    if (!this.ended && pos < chunk.length) this.pending = chunk.subarray(pos);
  }

  /** decode the complete tuples of `buf` (and the header first); returns where the rest starts */
  private parse(buf: Buffer, onRow: () => void): number {
    let pos = 0;
    if (!this.headerDone) {
      if (buf.length < 19) return 0;
      const extLen = buf.readInt32BE(15);
      if (buf.length < 19 + extLen) return 0;
      pos = 19 + extLen;
      this.headerDone = true;
    }
    const ncols = this.decoders.length;
    while (pos + 2 <= buf.length) {
      const n = buf.readInt16BE(pos);
      if (n === -1) {
        this.ended = true;
        return pos + 2;
      }
      if (n !== ncols) throw new DecodeError(`COPY tuple has ${n} fields, expected ${ncols}`);
      // check the whole tuple is here before decoding any of it
      let p = pos + 2;
      let complete = true;
      for (let c = 0; c < ncols; c++) {
        if (p + 4 > buf.length) {
          complete = false;
          break;
        }
        const len = buf.readInt32BE(p);
        p += 4 + Math.max(len, 0);
        if (p > buf.length) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      p = pos + 2;
      for (let c = 0; c < ncols; c++) {
        const len = buf.readInt32BE(p);
        p += 4;
        if (len < 0) this.decoders[c]!.pushNull();
        else {
          this.decoders[c]!.push(buf, p, len);
          p += len;
        }
      }
      pos = p;
      onRow();
    }
    return pos;
  }
}
