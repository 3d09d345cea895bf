/**
 * Arrow RecordBatch → Postgres binary COPY, encoded straight from the column buffers.
 *
 * Each column gets an encoder specialised for its (Arrow type, Postgres column type) pair that
 * reads the typed arrays directly; rows are laid out tuple by tuple into ~1 MiB chunks. Text and
 * bytea values are copied as bytes (binary COPY needs no escaping); NUL bytes, which Postgres text
 * cannot hold, are dropped from text and json (also the `\u0000` escape, which jsonb rejects).
 */
import * as A from 'apache-arrow';
import { renderData } from '../../lib/arrow-json.js';
import { getBit, validTest } from '../../lib/arrow/bitmap.js';
import { decimalToBigInt } from '../../lib/arrow/decimal.js';
import {
  DATE_INFINITY,
  DATE_NEG_INFINITY,
  dayToDateString,
  MS_PER_DAY,
  microsToIso,
  PG_EPOCH_DAYS,
  PG_EPOCH_US,
  TS_INFINITY,
  TS_NEG_INFINITY,
  timeToMicros,
  timestampToMicros,
} from '../../lib/arrow/time.js';
import { varBytes } from '../../lib/arrow/var-binary.js';
import { CqPipeError } from '../../lib/errors.js';
import { extensionOf } from '../../lib/types.js';
import { ELEMENT_OID, baseType } from './types.js';

const CHUNK = 1 << 20;
/** a chunk's buffer: CHUNK and room for the row that crosses it (longer rows grow it) */
const CHUNK_ROOM = CHUNK + (64 << 10);
const EMPTY = Buffer.alloc(0);

/** Postgres' timestamp range relative to its 2000 epoch (4713 BC to 294276 AD; datatype/timestamp.h) and its infinity */
const PG_TS_MIN = -211_813_488_000_000_000n;
const PG_TS_END = 9_223_371_331_200_000_000n;
const PG_TS_INFINITY = 0x7fffffffffffffffn;
/** Postgres' date range in days since 1970-01-01 (from 4714-11-24 BC, up to but not including 5874898-01-01) */
const PG_DATE_MIN_DAYS = -2_440_588;
const PG_DATE_END_DAYS = 2_145_042_906;

export const COPY_HEADER = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);

class Out {
  buf = EMPTY;
  view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  pos = 0;
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // allocated when first written to: a taken chunk leaves no spare buffer behind
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n, CHUNK_ROOM));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
  int16(v: number): void {
    this.ensure(2);
    this.view.setInt16(this.pos, v);
    this.pos += 2;
  }
  int32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** hand over what was written; the next write starts a fresh buffer */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = EMPTY;
    this.view = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);
    this.pos = 0;
    return out;
  }
}

/** writes one value (length prefix included) of row i (relative to the Data) */
type Encoder = (out: Out, i: number) => void;

/**
 * A value the Postgres column cannot take (a bad IP address, a type mismatch): a row's error, which
 * the destination dead-letters or reports with its table and row (load-errors.ts).
 */
export class EncodeError extends CqPipeError {
  constructor(message: string) {
    super('CQ_ERR_DEST_WRITE', message, { scope: 'table' });
    this.name = 'EncodeError';
  }
}

function withNulls(data: A.Data, enc: Encoder): Encoder {
  const valid = validTest(data);
  if (!valid) return enc;
  return (out, i) => {
    if (valid(i)) enc(out, i);
    else out.int32(-1);
  };
}

/** bytes [a, b) of `src` into `dst` at `p`, without a view per value (short values by a loop) */
function copyRange(dst: Uint8Array, p: number, src: Uint8Array, a: number, b: number): void {
  if (b - a > 64) dst.set(src.subarray(a, b), p);
  else for (let k = a; k < b; k++) dst[p++] = src[k]!;
}

/**
 * The values of a variable-length column without NUL bytes (32-bit offsets) as they are, copied by
 * range; `jsonb`: after jsonb's version byte (1), counted in the length.
 */
function bytesByRange(data: A.Data, offs: Int32Array, jsonb: boolean): Encoder {
  const values = data.values as Uint8Array;
  const head = jsonb ? 5 : 4;
  return (out, i) => {
    const a = offs[i]!;
    const len = offs[i + 1]! - a;
    out.ensure(head + len);
    out.view.setInt32(out.pos, len + head - 4);
    if (jsonb) out.buf[out.pos + 4] = 1;
    copyRange(out.buf, out.pos + head, values, a, a + len);
    out.pos += head + len;
  };
}

/** 2^32, to split a number into the two 32-bit halves of an int64 */
const TWO32 = 4294967296;
/** int64 values with |hi| below this (±2^52) are exact as JS numbers */
const SAFE_HI = 1 << 20;

/** an int64 column's values as 32-bit halves (little-endian: [lo, hi] per value), read without a bigint per value */
function int64Halves(v: BigInt64Array): Int32Array {
  return new Int32Array(v.buffer, v.byteOffset, v.length * 2);
}

const NUL_ESCAPE = Buffer.from('\\u0000');

function stripNul(b: Uint8Array, json: boolean): Uint8Array {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let hasEscape = false;
  if (buf.indexOf(0) === -1 && !(json && (hasEscape = buf.indexOf(NUL_ESCAPE) !== -1))) return b;
  let s = buf.toString('utf8').replace(/\0/g, '');
  if (json || hasEscape) s = s.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1');
  return Buffer.from(s, 'utf8');
}

/** one scan of a whole var-width column for NUL bytes (and, for json, the \u0000 escape) */
function columnHasNul(data: A.Data, json: boolean): boolean {
  const values = data.values as Uint8Array;
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  const start = Number(offsets[0]);
  const end = Number(offsets[data.length]);
  const region = Buffer.from(values.buffer, values.byteOffset + start, end - start);
  return region.indexOf(0) !== -1 || (json && region.indexOf(NUL_ESCAPE) !== -1);
}

export function writeNumeric(out: Out, unscaled: bigint, scale: number): void {
  const neg = unscaled < 0n;
  const s = (neg ? -unscaled : unscaled).toString();
  let intPart = s.length > scale ? s.slice(0, s.length - scale) : '';
  let frac = s.length > scale ? s.slice(s.length - scale) : s.padStart(scale, '0');
  intPart = intPart.replace(/^0+/, '');
  intPart = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0');
  frac = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let k = 0; k < intPart.length; k += 4) groups.push(Number(intPart.slice(k, k + 4)));
  for (let k = 0; k < frac.length; k += 4) groups.push(Number(frac.slice(k, k + 4)));
  let weight = intPart.length / 4 - 1;
  let first = 0;
  while (first < groups.length && groups[first] === 0) {
    first++;
    weight--;
  }
  let last = groups.length;
  while (last > first && groups[last - 1] === 0) last--;
  const digits = groups.slice(first, last);
  if (digits.length === 0) weight = 0;
  out.int32(8 + digits.length * 2);
  out.int16(digits.length);
  out.int16(weight);
  out.int16(neg ? 0x4000 : 0);
  out.int16(scale);
  for (const d of digits) out.int16(d);
}

/** "a.b.c.d[/n]" or IPv6[/n] → Postgres binary inet */
export function parseInet(s: string): Uint8Array | undefined {
  const [addr, bitsText] = s.trim().split('/');
  if (!addr) return undefined;
  let bytes: number[];
  let family: number;
  if (addr.includes(':')) {
    family = 3;
    let text = addr;
    const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
    if (v4) {
      const p = v4[2]!.split('.').map(Number);
      if (p.some((x) => x > 255)) return undefined;
      text = `${v4[1]}${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
    }
    const halves = text.split('::');
    if (halves.length > 2) return undefined;
    const parse = (h: string) => (h === '' ? [] : h.split(':').map((x) => (/^[0-9a-f]{1,4}$/i.test(x) ? parseInt(x, 16) : NaN)));
    const head = parse(halves[0]!);
    const rest = halves.length === 2 ? parse(halves[1]!) : [];
    const total = head.length + rest.length;
    if (total > 8) return undefined;
    const words = halves.length === 2 ? [...head, ...new Array(8 - total).fill(0), ...rest] : head;
    if (words.length !== 8 || words.some((w) => Number.isNaN(w) || w < 0)) return undefined;
    bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  } else {
    family = 2;
    const p = addr.split('.');
    if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined;
    bytes = p.map(Number);
  }
  const max = bytes.length * 8;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return undefined;
  return Uint8Array.from([family, bits, 0, bytes.length, ...bytes]);
}

/**
 * row i of a struct or list column as JSON text (UTF-8), without the \\u0000 escape: rendered by
 * lib/arrow-json.ts, so nested timestamps keep every digit of their unit (ISO-8601 text, as in
 * NDJSON), int64 stays exact and decimals stay decimal text
 */
function jsonTexts(data: A.Data): (i: number) => Buffer {
  const { bytes, offsets } = renderData(data, new A.Field('v', data.type, true), 'json');
  return (i) => {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset + offsets[i]!, offsets[i + 1]! - offsets[i]!);
    return b.includes('\\u0000') ? Buffer.from(b.toString('utf8').replace(/\\u0000/g, ''), 'utf8') : b;
  };
}

/** encoder for column data `data` of field `field` into a column of Postgres type `pgType` */
export function makeEncoder(data: A.Data, field: A.Field, pgType: string): Encoder {
  const t = data.type as A.DataType;
  const ext = extensionOf(field);
  const off = data.offset;
  const base = baseType(pgType);
  const mismatch = () => new EncodeError(`cannot write ${String(t)} column "${field.name}" into a Postgres ${pgType} column`);

  if (pgType.endsWith('[]')) {
    if (t.typeId !== A.Type.List) throw mismatch();
    const child = data.children[0]!;
    const childField = (t as A.List).children[0]!;
    const elemType = pgType.slice(0, -2);
    const oid = ELEMENT_OID[baseType(elemType)];
    if (oid === undefined) throw mismatch();
    const childEnc = makeEncoder(child, childField, elemType);
    const childValid = validTest(child);
    const offsets = data.valueOffsets as Int32Array;
    return withNulls(data, (out, i) => {
      const start = offsets[i]!;
      const end = offsets[i + 1]!;
      const lenPos = out.pos;
      out.int32(0);
      if (end === start) {
        out.int32(0);
        out.int32(0);
        out.int32(oid);
      } else {
        let hasNull = 0;
        if (childValid)
          for (let k = start; k < end; k++)
            if (!childValid(k)) {
              hasNull = 1;
              break;
            }
        out.int32(1);
        out.int32(hasNull);
        out.int32(oid);
        out.int32(end - start);
        out.int32(1);
        for (let k = start; k < end; k++) childEnc(out, k);
      }
      out.view.setInt32(lenPos, out.pos - lenPos - 4);
    });
  }

  switch (base) {
    case 'boolean': {
      if (t.typeId !== A.Type.Bool) throw mismatch();
      const v = data.values as Uint8Array;
      return withNulls(data, (out, i) => {
        out.ensure(5);
        out.view.setInt32(out.pos, 1);
        out.buf[out.pos + 4] = getBit(v, off + i);
        out.pos += 5;
      });
    }
    case 'smallint':
    case 'integer':
    case 'bigint': {
      if (t.typeId !== A.Type.Int) throw mismatch();
      const v = data.values as ArrayLike<number | bigint>;
      const width = base === 'smallint' ? 2 : base === 'integer' ? 4 : 8;
      const big = (t as A.Int).bitWidth === 64;
      if (width === 8 && big) {
        const w = int64Halves(v as BigInt64Array);
        return withNulls(data, (out, i) => {
          out.ensure(12);
          out.view.setInt32(out.pos, 8);
          out.view.setInt32(out.pos + 4, w[2 * i + 1]!);
          out.view.setInt32(out.pos + 8, w[2 * i]!);
          out.pos += 12;
        });
      }
      if (big) throw mismatch();
      if (width === 8) {
        return withNulls(data, (out, i) => {
          const x = v[i] as number;
          out.ensure(12);
          out.view.setInt32(out.pos, 8);
          out.view.setInt32(out.pos + 4, x < 0 ? -1 : 0);
          out.view.setUint32(out.pos + 8, x >>> 0);
          out.pos += 12;
        });
      }
      if (width === 4)
        return withNulls(data, (out, i) => {
          out.ensure(8);
          out.view.setInt32(out.pos, 4);
          out.view.setInt32(out.pos + 4, v[i] as number);
          out.pos += 8;
        });
      return withNulls(data, (out, i) => {
        out.ensure(6);
        out.view.setInt32(out.pos, 2);
        out.view.setInt16(out.pos + 4, v[i] as number);
        out.pos += 6;
      });
    }
    case 'real':
    case 'double precision': {
      if (t.typeId !== A.Type.Float) throw mismatch();
      const v = data.values as Float32Array | Float64Array;
      if (base === 'real')
        return withNulls(data, (out, i) => {
          out.ensure(8);
          out.view.setInt32(out.pos, 4);
          out.view.setFloat32(out.pos + 4, v[i]!);
          out.pos += 8;
        });
      return withNulls(data, (out, i) => {
        out.ensure(12);
        out.view.setInt32(out.pos, 8);
        out.view.setFloat64(out.pos + 4, v[i]!);
        out.pos += 12;
      });
    }
    case 'numeric': {
      if (t.typeId === A.Type.Decimal) {
        const dt = t as A.Decimal;
        const words = data.values as Uint32Array;
        const n = dt.bitWidth / 32;
        return withNulls(data, (out, i) => writeNumeric(out, decimalToBigInt(words, i, n), dt.scale));
      }
      if (t.typeId === A.Type.Int) {
        const v = data.values as ArrayLike<number | bigint>;
        return withNulls(data, (out, i) => writeNumeric(out, BigInt(v[i]!), 0));
      }
      throw mismatch();
    }
    case 'text':
    case 'character varying':
    case 'json': {
      // structs and lists as JSON text (CloudQuery stores structs in text columns); maps as a JSON object
      if (t.typeId === A.Type.Map) {
        const json = renderData(data, field, 'json');
        return withNulls(data, (out, i) => {
          const a = json.offsets[i]!,
            b = json.offsets[i + 1]!;
          out.int32(b - a);
          out.bytes(json.bytes.subarray(a, b));
        });
      }
      if (t.typeId === A.Type.Struct || t.typeId === A.Type.List) {
        const text = jsonTexts(data);
        return withNulls(data, (out, i) => {
          const b = text(i);
          out.int32(b.length);
          out.bytes(b);
        });
      }
      if (t.typeId !== A.Type.Utf8 && t.typeId !== A.Type.LargeUtf8 && ext !== 'inet' && ext !== 'json') throw mismatch();
      const get = varBytes(data);
      const clean = !columnHasNul(data, false);
      if (clean && data.valueOffsets instanceof Int32Array) return withNulls(data, bytesByRange(data, data.valueOffsets, false));
      return withNulls(data, (out, i) => {
        const b = clean ? get(i) : stripNul(get(i), false);
        out.ensure(4 + b.length);
        out.view.setInt32(out.pos, b.length);
        out.pos += 4;
        out.buf.set(b, out.pos);
        out.pos += b.length;
      });
    }
    case 'bytea': {
      if (t.typeId === A.Type.FixedSizeBinary) {
        const w = (t as A.FixedSizeBinary).byteWidth;
        const v = data.values as Uint8Array;
        return withNulls(data, (out, i) => {
          out.int32(w);
          out.bytes(v.subarray(i * w, (i + 1) * w));
        });
      }
      if (t.typeId !== A.Type.Binary && t.typeId !== A.Type.LargeBinary) throw mismatch();
      const get = varBytes(data);
      return withNulls(data, (out, i) => {
        const b = get(i);
        out.int32(b.length);
        out.bytes(b);
      });
    }
    case 'uuid': {
      if (t.typeId !== A.Type.FixedSizeBinary || (t as A.FixedSizeBinary).byteWidth !== 16) throw mismatch();
      const v = data.values as Uint8Array;
      return withNulls(data, (out, i) => {
        out.ensure(20);
        out.view.setInt32(out.pos, 16);
        copyRange(out.buf, out.pos + 4, v, i * 16, i * 16 + 16);
        out.pos += 20;
      });
    }
    case 'jsonb': {
      if (t.typeId === A.Type.Binary || t.typeId === A.Type.Utf8 || t.typeId === A.Type.LargeBinary || t.typeId === A.Type.LargeUtf8) {
        const get = varBytes(data);
        const clean = !columnHasNul(data, true);
        if (clean && data.valueOffsets instanceof Int32Array) return withNulls(data, bytesByRange(data, data.valueOffsets, true));
        return withNulls(data, (out, i) => {
          const b = clean ? get(i) : stripNul(get(i), true);
          out.ensure(5 + b.length);
          out.view.setInt32(out.pos, b.length + 1);
          out.buf[out.pos + 4] = 1;
          out.pos += 5;
          out.buf.set(b, out.pos);
          out.pos += b.length;
        });
      }
      // struct and nested lists → JSON text
      const text = jsonTexts(data);
      return withNulls(data, (out, i) => {
        const b = text(i);
        out.int32(b.length + 1);
        out.ensure(1);
        out.buf[out.pos++] = 1;
        out.bytes(b);
      });
    }
    case 'inet': {
      const get = varBytes(data);
      const dec = new TextDecoder();
      return withNulls(data, (out, i) => {
        const text = dec.decode(get(i));
        const b = parseInet(text);
        if (!b) throw new EncodeError(`column "${field.name}": "${text}" is not an IP address`);
        out.int32(b.length);
        out.bytes(b);
      });
    }
    case 'date': {
      if (t.typeId !== A.Type.Date) throw mismatch();
      const v = data.values as Int32Array | BigInt64Array;
      const day = (t as A.Date_).unit === A.DateUnit.DAY;
      return withNulls(data, (out, i) => {
        const d = day ? (v[i] as number) : Math.floor(Number(v[i]) / MS_PER_DAY);
        out.int32(4);
        // ±infinity (lib/arrow/time.ts) → Postgres' ±infinity; Postgres dates end in 5874897 AD
        if (d === DATE_INFINITY || d === DATE_NEG_INFINITY) out.int32(d > 0 ? 0x7fffffff : -0x80000000);
        else if (d >= PG_DATE_MIN_DAYS && d < PG_DATE_END_DAYS) out.int32(d - PG_EPOCH_DAYS);
        else throw new EncodeError(`column "${field.name}": ${dayToDateString(d)} is outside the dates Postgres can store`);
      });
    }
    case 'time without time zone': {
      if (t.typeId !== A.Type.Time) throw mismatch();
      const v = data.values as BigInt64Array | Int32Array;
      const toUs = timeToMicros((t as A.Time).unit);
      return withNulls(data, (out, i) => {
        out.ensure(12);
        out.view.setInt32(out.pos, 8);
        out.view.setBigInt64(out.pos + 4, toUs(v[i]!));
        out.pos += 12;
      });
    }
    case 'timestamp with time zone':
    case 'timestamp without time zone': {
      if (t.typeId !== A.Type.Timestamp) throw mismatch();
      const v = data.values as BigInt64Array;
      const toUs = timestampToMicros((t as A.Timestamp).unit);
      const slow = (out: Out, i: number) => {
        const x = v[i]!;
        let pgUs: bigint;
        // ±infinity (lib/arrow/time.ts) → Postgres' ±infinity; anything else must be in Postgres' range, never wrap
        if (x === TS_INFINITY || x === TS_NEG_INFINITY) pgUs = x > 0n ? PG_TS_INFINITY : -PG_TS_INFINITY - 1n;
        else {
          pgUs = toUs(x) - PG_EPOCH_US;
          if (pgUs < PG_TS_MIN || pgUs >= PG_TS_END)
            throw new EncodeError(`column "${field.name}": ${microsToIso(toUs(x))} is outside the timestamps Postgres can store`);
        }
        out.ensure(12);
        out.view.setInt32(out.pos, 8);
        out.view.setBigInt64(out.pos + 4, pgUs);
        out.pos += 12;
      };
      if ((t as A.Timestamp).unit !== A.TimeUnit.MICROSECOND) return withNulls(data, slow);
      // µs within ±2^52 of 1970 (years 1827 to 2112): shifted to Postgres' epoch as numbers, no bigint per value
      const w = int64Halves(v);
      const epoch = Number(PG_EPOCH_US);
      return withNulls(data, (out, i) => {
        const hi = w[2 * i + 1]!;
        if (hi >= SAFE_HI || hi < -SAFE_HI) return slow(out, i);
        const pg = hi * TWO32 + (w[2 * i]! >>> 0) - epoch;
        const pgHi = Math.floor(pg / TWO32);
        out.ensure(12);
        out.view.setInt32(out.pos, 8);
        out.view.setInt32(out.pos + 4, pgHi);
        out.view.setUint32(out.pos + 8, pg - pgHi * TWO32);
        out.pos += 12;
      });
    }
    default:
      throw mismatch();
  }
}

/**
 * Tuples of `batch` (columns in `columns` order, each with its Postgres type) as binary COPY
 * chunks. The caller sends COPY_HEADER first and COPY_TRAILER last.
 */
export function* encodeBatch(batch: A.RecordBatch, columns: { field: A.Field; pgType: string }[]): Generator<Buffer> {
  const encoders = columns.map(({ field, pgType }) => {
    const idx = batch.schema.fields.findIndex((f) => f.name === field.name);
    return makeEncoder(batch.data.children[idx]!, field, pgType);
  });
  const out = new Out();
  const n = batch.numRows;
  const ncols = encoders.length;
  for (let r = 0; r < n; r++) {
    out.int16(ncols);
    for (let c = 0; c < ncols; c++) encoders[c]!(out, r);
    if (out.pos >= CHUNK) yield out.take();
  }
  if (out.pos > 0) yield out.take();
}
