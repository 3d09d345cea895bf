/**
 * NDJSON bytes → the columns of a batch, without a JS object per row (docs/file-source.md, "fast path").
 *
 * The common case of an NDJSON file — one flat object per line whose keys are the table's columns —
 * is read straight from the UTF-8 bytes: strings are copied as bytes, integers and decimals read
 * from their digits, a json column's value copied as its text. What this reads is exactly what
 * JSON.parse and RowBatchBuilder (lib/row-builder.ts) make of the same lines: anything it does not
 * read exactly that way (an escape in a key, a key not in the table, a duplicate key, a number
 * in a text column, a value that does not fit, deep nesting, a blank line, ...) ends the scan with
 * `bail`, and the caller reads the batch's lines the general way instead, which also names errors.
 * Per value, a json value not already in JSON.stringify's form, and every value of a column type
 * not read here, go through parseJsonExact and the builder's own conversion.
 */
import { isUtf8 } from 'node:buffer';
import * as A from 'apache-arrow';
import { bitmapBytes, setBit } from '../../../lib/arrow/bitmap.js';
import { makeDataOf } from '../../../lib/arrow/data.js';
import { uuidFromCodes } from '../../../lib/arrow/uuid.js';
import { parseJsonExact, stringifyExact } from '../../../lib/json-exact.js';
import { convertValues } from '../../../lib/row-builder.js';
import { isoCodesToMicros } from '../../../lib/time.js';
import { extensionOf } from '../../../lib/types.js';

enum Kind {
  Utf8,
  Json,
  Int64,
  Float64,
  Bool,
  TimestampUs,
  Uuid,
  /** any other type: JS values, converted by lib/row-builder.ts at the end */
  Values,
}

/** deeper json values are left to the general path (which reports a too-deep record as it does) */
const MAX_DEPTH = 64;
/** objects with more keys are not checked for duplicates here: their value goes the general way */
const MAX_KEYS_CHECKED = 16;
const TWO32 = 4294967296;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const Q = 34; // "
const BS = 92; // backslash
const NL = 10;

class Column {
  /** bytes of Utf8 / Json values */
  bytes = new Uint8Array(0);
  byteLength = 0;
  offsets!: Int32Array;
  /** Int64 / TimestampUs as 32-bit halves; Float64; Bool bits; Uuid bytes */
  words!: Int32Array;
  floats!: Float64Array;
  bits!: Uint8Array;
  fixed!: Uint8Array<ArrayBuffer>;
  values: unknown[] = [];
  nullBitmap: Uint8Array | undefined;
  nullCount = 0;

  constructor(
    readonly field: A.Field,
    readonly kind: Kind,
    readonly capacity: number,
  ) {
    this.reset();
  }

  reset(): void {
    const n = this.capacity;
    this.nullBitmap = undefined;
    this.nullCount = 0;
    this.byteLength = 0;
    switch (this.kind) {
      case Kind.Utf8:
      case Kind.Json:
        this.offsets = new Int32Array(n + 1);
        if (this.bytes.length === 0) this.bytes = new Uint8Array(64 * n);
        break;
      case Kind.Int64:
      case Kind.TimestampUs:
        this.words = new Int32Array(2 * n);
        break;
      case Kind.Float64:
        this.floats = new Float64Array(n);
        break;
      case Kind.Bool:
        this.bits = new Uint8Array(bitmapBytes(n));
        break;
      case Kind.Uuid:
        this.fixed = new Uint8Array(16 * n);
        break;
      default:
        this.values = [];
    }
  }

  /** room for `more` value bytes */
  room(more: number): void {
    if (this.byteLength + more <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.byteLength + more));
    next.set(this.bytes.subarray(0, this.byteLength));
    this.bytes = next;
  }

  appendBytes(src: Uint8Array, a: number, b: number): void {
    this.room(b - a);
    const dst = this.bytes;
    let p = this.byteLength;
    if (b - a > 64) dst.set(src.subarray(a, b), p);
    else for (let k = a; k < b; k++) dst[p++] = src[k]!;
    this.byteLength += b - a;
  }

  appendText(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.appendBytes(b, 0, b.length);
  }

  setNull(row: number): void {
    if (!this.nullBitmap) {
      this.nullBitmap = new Uint8Array(bitmapBytes(this.capacity));
      for (let j = 0; j < row; j++) setBit(this.nullBitmap, j);
    }
    this.nullCount++;
  }

  /** the column of rows [0, n): the Data RowBatchBuilder would make of the same values */
  finish(n: number): A.Data {
    const t = this.field.type as A.DataType;
    const bitmap = this.nullBitmap ? this.nullBitmap.slice(0, bitmapBytes(n)) : undefined;
    const base = { type: t, length: n, nullCount: this.nullCount, nullBitmap: bitmap };
    switch (this.kind) {
      case Kind.Utf8:
      case Kind.Json:
        return makeDataOf({ ...base, valueOffsets: this.offsets.slice(0, n + 1), data: this.bytes.slice(0, this.byteLength) });
      case Kind.Int64:
        return makeDataOf({ ...base, data: new BigInt64Array(this.words.buffer, 0, n) });
      case Kind.TimestampUs:
        return makeDataOf({ ...base, data: new BigInt64Array(this.words.buffer, 0, n) });
      case Kind.Float64:
        return makeDataOf({ ...base, data: this.floats.subarray(0, n) });
      case Kind.Bool:
        return makeDataOf({ ...base, data: this.bits.subarray(0, bitmapBytes(n)) });
      case Kind.Uuid:
        return makeDataOf({ ...base, data: this.fixed.subarray(0, 16 * n) });
      default:
        return convertValues(this.values, this.field);
    }
  }
}

function kindOf(field: A.Field): Kind {
  const t = field.type as A.DataType;
  const ext = extensionOf(field);
  if (ext === 'json') return t.typeId === A.Type.Utf8 || t.typeId === A.Type.Binary ? Kind.Json : Kind.Values;
  if (ext === 'inet') return Kind.Values;
  if (t.typeId === A.Type.Utf8) return Kind.Utf8;
  if (t.typeId === A.Type.Int && (t as A.Int).bitWidth === 64 && (t as A.Int).isSigned) return Kind.Int64;
  if (t.typeId === A.Type.Float && (t as A.Float).precision === A.Precision.DOUBLE) return Kind.Float64;
  if (t.typeId === A.Type.Bool) return Kind.Bool;
  if (t.typeId === A.Type.Timestamp && (t as A.Timestamp).unit === A.TimeUnit.MICROSECOND) return Kind.TimestampUs;
  if (t.typeId === A.Type.FixedSizeBinary && (t as A.FixedSizeBinary).byteWidth === 16) return Kind.Uuid;
  return Kind.Values;
}

/** what a scan did: the position after the last line read, and whether it stopped at a line it does not read */
export interface ScanResult {
  pos: number;
  bail: boolean;
}

export class NdjsonColumns {
  private readonly cols: Column[];
  private readonly names: Uint8Array;
  /** column c's name is names[nameStart[c], nameStart[c + 1]) */
  private readonly nameStart: Int32Array;
  /** column c's name can be compared with a key's raw bytes */
  private readonly plain: boolean[];
  /** rows in the batch being built */
  length = 0;
  /** rows whose unknown keys still matter (the caller reports the first unknown column among a file's first rows) */
  strictRows = 0;
  // the line being scanned
  private b: Uint8Array = new Uint8Array(0);
  /** per column: the row that last set it (a second key for it is a duplicate) */
  private readonly seenAt: Int32Array;
  /** the column of the k-th key of the previous row, tried first */
  private readonly guess: number[] = [];
  private canonical = true;
  private escaped = false;

  constructor(
    readonly schema: A.Schema,
    readonly batchRows: number,
  ) {
    const enc = new TextEncoder();
    this.cols = schema.fields.map((f) => new Column(f, kindOf(f), batchRows));
    // the columns' names as UTF-8, one after another
    const names = this.cols.map((c) => enc.encode(c.field.name));
    this.names = new Uint8Array(names.reduce((n, x) => n + x.length, 0));
    this.nameStart = new Int32Array(names.length + 1);
    names.forEach((x, c) => {
      this.names.set(x, this.nameStart[c]!);
      this.nameStart[c + 1] = this.nameStart[c]! + x.length;
    });
    this.plain = names.map((x) => x.every((byte) => byte >= 32 && byte !== Q && byte !== BS));
    this.seenAt = new Int32Array(this.cols.length).fill(-1);
  }

  /** the batch of the rows scanned so far (throws as RowBatchBuilder does for a column of other types); resets */
  finish(): A.RecordBatch {
    const n = this.length;
    try {
      const children = this.cols.map((c) => c.finish(n));
      return new A.RecordBatch(this.schema, A.makeData({ type: new A.Struct(this.schema.fields), length: n, nullCount: 0, children }));
    } finally {
      this.reset();
    }
  }

  /** drop the rows scanned so far */
  reset(): void {
    this.length = 0;
    this.seenAt.fill(-1);
    for (const c of this.cols) c.reset();
  }

  /**
   * Read whole lines of `bytes` (each ending in \n) from `pos` until the batch holds `batchRows` rows
   * or the bytes end. `bail`: the line at `pos` is not read here (the rows before it are, and the
   * row at `pos` half: the caller reads the whole batch again the general way, after reset()).
   */
  scan(bytes: Uint8Array, pos: number, end: number): ScanResult {
    if (!isUtf8(bytes.subarray(pos, end))) return { pos, bail: true };
    this.b = bytes;
    while (pos < end && this.length < this.batchRows) {
      const next = this.row(pos);
      if (next < 0) return { pos, bail: true };
      pos = next;
      this.length++;
    }
    return { pos, bail: false };
  }

  /** one line from `p`: the position after its \n, or -1 */
  private row(p: number): number {
    const b = this.b;
    const r = this.length;
    const cols = this.cols;
    p = ws(b, p);
    if (b[p] !== 123) return -1; // {
    p = ws(b, p + 1);
    let k = 0;
    if (b[p] === 125) p++;
    else
      for (;;) {
        if (b[p] !== Q) return -1;
        const ks = p + 1;
        // the key is most often the previous row's k-th: compared while it is read
        let c = this.guessed(ks, k);
        let ke = c < 0 ? ks : ks + this.nameStart[c + 1]! - this.nameStart[c]!;
        if (c < 0) {
          while (b[ke] !== Q) {
            if (b[ke] === BS || b[ke]! < 32) return -1;
            ke++;
          }
          c = this.column(ks, ke, k);
        }
        p = ws(b, ke + 1);
        if (b[p] !== 58) return -1; // :
        p = ws(b, p + 1);
        if (c < 0) {
          // a key not in the table: ignored, once the rows where the caller reports it are past
          if (r < this.strictRows) return -1;
          p = this.skip(p, 0);
          if (p < 0) return -1;
        } else {
          if (this.seenAt[c] === r) return -1;
          this.seenAt[c] = r;
          p = this.value(cols[c]!, r, p);
          if (p < 0) return -1;
        }
        k++;
        p = ws(b, p);
        if (b[p] === 44) {
          p = ws(b, p + 1);
          continue;
        }
        if (b[p] !== 125) return -1;
        p++;
        break;
      }
    p = ws(b, p);
    if (b[p] === 13) p++;
    if (b[p] !== NL) return -1;
    // columns without a key in this row are null
    for (let c = 0; c < cols.length; c++) {
      if (this.seenAt[c] === r) continue;
      const col = cols[c]!;
      if (!col.field.nullable) return -1;
      this.seenAt[c] = r;
      this.nullValue(col, r);
    }
    return p + 1;
  }

  /** the previous row's k-th key's column when the key at `a` is its name (a name with a quote, backslash or control character never is) */
  private guessed(a: number, k: number): number {
    const g = this.guess[k];
    if (g === undefined || !this.plain[g]) return -1;
    const from = this.nameStart[g]!;
    const n = this.nameStart[g + 1]! - from;
    const b = this.b;
    const names = this.names;
    for (let i = 0; i < n; i++) if (b[a + i] !== names[from + i]) return -1;
    return b[a + n] === Q ? g : -1;
  }

  /** the column named by key bytes [a, b), trying the column of the previous row's k-th key first */
  private column(a: number, e: number, k: number): number {
    const g = this.guess[k];
    if (g !== undefined && this.nameIs(g, a, e)) return g;
    for (let c = 0; c < this.cols.length; c++)
      if (c !== g && this.nameIs(c, a, e)) {
        this.guess[k] = c;
        return c;
      }
    return -1;
  }

  private nameIs(c: number, a: number, e: number): boolean {
    const from = this.nameStart[c]!;
    const n = this.nameStart[c + 1]! - from;
    if (n !== e - a) return false;
    const b = this.b;
    const names = this.names;
    for (let i = 0; i < n; i++) if (b[a + i] !== names[from + i]) return false;
    return true;
  }

  private nullValue(col: Column, r: number): void {
    // a column of JS values gets its validity from the builder's conversion
    if (col.kind === Kind.Values) {
      col.values.push(null);
      return;
    }
    col.setNull(r);
    if (col.kind === Kind.Utf8 || col.kind === Kind.Json) col.offsets[r + 1] = col.byteLength;
  }

  /** the value at `p` into row `r` of `col`: the position after it, or -1 */
  private value(col: Column, r: number, p: number): number {
    const b = this.b;
    const c0 = b[p];
    if (c0 === 110) {
      // null
      if (b[p + 1] !== 117 || b[p + 2] !== 108 || b[p + 3] !== 108 || !col.field.nullable) return -1;
      this.nullValue(col, r);
      return p + 4;
    }
    if (col.nullBitmap) setBit(col.nullBitmap, r);
    switch (col.kind) {
      case Kind.Utf8: {
        if (c0 !== Q) return -1;
        const end = this.stringEnd(p);
        if (end < 0) return -1;
        if (!this.escaped) col.appendBytes(b, p + 1, end - 1);
        else {
          const text = JSON.parse(Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('utf8')) as string;
          // a lone surrogate: the general path encodes the column's strings joined, not one by one
          if (LONE_SURROGATE.test(text)) return -1;
          col.appendText(text);
        }
        col.offsets[r + 1] = col.byteLength;
        return end;
      }
      case Kind.Json: {
        this.canonical = true;
        const end = this.skip(p, 0);
        if (end < 0) return -1;
        if (this.canonical) col.appendBytes(b, p, end);
        else col.appendText(stringifyExact(parseJsonExact(Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('utf8'))));
        col.offsets[r + 1] = col.byteLength;
        return end;
      }
      case Kind.Int64: {
        const end = numberEnd(b, p);
        if (end < 0) return -1;
        let neg = false;
        let i = p;
        if (b[i] === 45) {
          neg = true;
          i++;
        }
        if (end - i > 15) {
          // long integers: exact as bigint, within int64
          for (let j = i; j < end; j++) if (b[j]! < 48 || b[j]! > 57) return -1;
          const big = BigInt(Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('latin1'));
          if (big < -(2n ** 63n) || big >= 2n ** 63n) return -1;
          const u = BigInt.asUintN(64, big);
          col.words[2 * r] = Number(u & 0xffffffffn) | 0;
          col.words[2 * r + 1] = Number(u >> 32n) | 0;
          return end;
        }
        let v = 0;
        for (; i < end; i++) {
          const d = b[i]! - 48;
          if (d < 0 || d > 9) return -1; // a fraction or an exponent
          v = v * 10 + d;
        }
        if (neg) v = -v;
        col.words[2 * r] = v | 0;
        col.words[2 * r + 1] = Math.floor(v / TWO32) | 0;
        return end;
      }
      case Kind.Float64: {
        const end = numberEnd(b, p);
        if (end < 0) return -1;
        col.floats[r] = numberAt(b, p, end);
        return end;
      }
      case Kind.Bool: {
        if (c0 === 116 && b[p + 1] === 114 && b[p + 2] === 117 && b[p + 3] === 101) {
          col.bits[r >> 3]! |= 1 << (r & 7);
          return p + 4;
        }
        if (c0 === 102 && b[p + 1] === 97 && b[p + 2] === 108 && b[p + 3] === 115 && b[p + 4] === 101) return p + 5;
        return -1;
      }
      case Kind.TimestampUs: {
        if (c0 !== Q) return -1;
        const end = this.stringEnd(p);
        if (end < 0 || this.escaped) return -1;
        const us = isoCodesToMicros(b, p + 1, end - p - 2);
        if (Number.isNaN(us)) return -1;
        col.words[2 * r] = us | 0;
        col.words[2 * r + 1] = Math.floor(us / TWO32) | 0;
        return end;
      }
      case Kind.Uuid: {
        if (c0 !== Q) return -1;
        const end = this.stringEnd(p);
        if (end < 0 || this.escaped) return -1;
        if (!uuidFromCodes(b, p + 1, end - p - 2, col.fixed, 16 * r)) return -1;
        return end;
      }
      default: {
        // the value JSON.parse gives, without parsing text where the bytes say it already
        const text = (a: number, e: number) => Buffer.from(b.buffer, b.byteOffset + a, e - a).toString('utf8');
        if (c0 === Q) {
          const end = this.stringEnd(p);
          if (end < 0) return -1;
          col.values.push(this.escaped ? JSON.parse(text(p, end)) : text(p + 1, end - 1));
          return end;
        }
        if (c0 === 45 || (c0! >= 48 && c0! <= 57)) {
          const end = numberEnd(b, p);
          if (end < 0) return -1;
          // integers of 16 digits and more may be beyond 2^53: exact as parseJsonExact reads them
          col.values.push(end - p > 15 && isInteger(b, p, end) ? parseJsonExact(text(p, end)) : numberAt(b, p, end));
          return end;
        }
        const end = this.skip(p, 0);
        if (end < 0) return -1;
        col.values.push(c0 === 116 ? true : c0 === 102 ? false : parseJsonExact(text(p, end)));
        return end;
      }
    }
  }

  /**
   * The end (after the closing quote) of the string whose opening quote is at `p`, or -1 (a raw
   * control character). `escaped`: it has an escape; `canonical`: none other than those JSON.stringify writes.
   */
  private stringEnd(p: number): number {
    const b = this.b;
    this.canonical = true;
    this.escaped = false;
    for (let i = p + 1; ; i++) {
      const c = b[i];
      if (c === Q) return i + 1;
      if (c === undefined || c < 32) return -1;
      if (c === BS) {
        this.escaped = true;
        const e = b[++i];
        // JSON.stringify's own escapes keep the text as is; any other valid escape is decoded
        if (e === Q || e === BS || e === 110 || e === 116 || e === 114 || e === 98 || e === 102) continue;
        this.canonical = false;
        if (e === 47) continue;
        if (e !== 117) return -1;
        for (let k = 1; k <= 4; k++) if (!isHex(b[i + k])) return -1;
        i += 4;
      }
    }
  }

  /**
   * Skip the JSON value at `p` (any type), validating it: the position after it, or -1. Clears
   * `canonical` when JSON.stringify(JSON.parse(text)) would not give the same text back.
   */
  private skip(p: number, depth: number): number {
    const b = this.b;
    const c = b[p];
    if (c === Q) {
      const keep = this.canonical;
      const end = this.stringEnd(p);
      this.canonical &&= keep;
      return end;
    }
    if (c === 123 || c === 91) {
      if (depth >= MAX_DEPTH) return -1;
      const close = c === 123 ? 125 : 93;
      let i = p + 1;
      if (isWs(b[i])) this.canonical = false;
      i = ws(b, i);
      if (b[i] === close) return i + 1;
      const keys: number[] = [];
      for (;;) {
        if (c === 123) {
          if (b[i] !== Q) return -1;
          const before = this.canonical;
          const end = this.stringEnd(i);
          if (end < 0) return -1;
          // keys an object orders first (array indices), escapes and duplicates change the text
          const d = b[i + 1]!;
          const plain = this.canonical && !(d >= 48 && d <= 57) && keys.length < 2 * MAX_KEYS_CHECKED && !this.duplicate(keys, i + 1, end - 1);
          this.canonical = before && plain;
          keys.push(i + 1, end - 1);
          i = end;
          if (isWs(b[i])) this.canonical = false;
          i = ws(b, i);
          if (b[i] !== 58) return -1;
          i++;
          if (isWs(b[i])) this.canonical = false;
          i = ws(b, i);
        }
        i = this.skip(i, depth + 1);
        if (i < 0) return -1;
        if (isWs(b[i])) this.canonical = false;
        i = ws(b, i);
        if (b[i] === 44) {
          i++;
          if (isWs(b[i])) this.canonical = false;
          i = ws(b, i);
          continue;
        }
        if (b[i] !== close) return -1;
        return i + 1;
      }
    }
    if (c === 116) return b[p + 1] === 114 && b[p + 2] === 117 && b[p + 3] === 101 ? p + 4 : -1;
    if (c === 102) return b[p + 1] === 97 && b[p + 2] === 108 && b[p + 3] === 115 && b[p + 4] === 101 ? p + 5 : -1;
    if (c === 110) return b[p + 1] === 117 && b[p + 2] === 108 && b[p + 3] === 108 ? p + 4 : -1;
    const end = numberEnd(b, p);
    if (end < 0) return -1;
    if (this.canonical && !canonicalNumber(b, p, end)) this.canonical = false;
    return end;
  }

  /** is key [a, e) one of `keys` (pairs of start, end)? */
  private duplicate(keys: number[], a: number, e: number): boolean {
    const b = this.b;
    for (let k = 0; k < keys.length; k += 2) {
      const s = keys[k]!;
      if (keys[k + 1]! - s !== e - a) continue;
      let same = true;
      for (let i = 0; i < e - a; i++)
        if (b[s + i] !== b[a + i]) {
          same = false;
          break;
        }
      if (same) return true;
    }
    return false;
  }
}

function isWs(c: number | undefined): boolean {
  return c === 32 || c === 9;
}

function ws(b: Uint8Array, p: number): number {
  while (b[p] === 32 || b[p] === 9) p++;
  return p;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
}

/** is the number [p, end) an integer (no fraction, no exponent)? */
function isInteger(b: Uint8Array, p: number, end: number): boolean {
  for (let i = p; i < end; i++) if (b[i] === 46 || b[i] === 101 || b[i] === 69) return false;
  return true;
}

/** the end of the JSON number at `p` (-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?), or -1 */
function numberEnd(b: Uint8Array, p: number): number {
  let i = p;
  if (b[i] === 45) i++;
  if (b[i] === 48) i++;
  else if (b[i]! >= 49 && b[i]! <= 57) while (b[i]! >= 48 && b[i]! <= 57) i++;
  else return -1;
  if (b[i] === 46) {
    i++;
    if (!(b[i]! >= 48 && b[i]! <= 57)) return -1;
    while (b[i]! >= 48 && b[i]! <= 57) i++;
  }
  if (b[i] === 101 || b[i] === 69) {
    i++;
    if (b[i] === 43 || b[i] === 45) i++;
    if (!(b[i]! >= 48 && b[i]! <= 57)) return -1;
    while (b[i]! >= 48 && b[i]! <= 57) i++;
  }
  return i;
}

/**
 * The double of the number [p, end), as JSON.parse reads it: at most 15 digits and no exponent is
 * digits ÷ 10^fraction digits, both exact, so one correctly rounded division; else Number() of the text.
 */
function numberAt(b: Uint8Array, p: number, end: number): number {
  let i = p;
  const neg = b[i] === 45;
  if (neg) i++;
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 46) {
      frac = 0;
      continue;
    }
    if (c < 48 || c > 57) return Number(Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('latin1'));
    m = m * 10 + (c - 48);
    digits++;
    if (frac >= 0) frac++;
  }
  if (digits > 15) return Number(Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('latin1'));
  const v = frac > 0 ? m / POW10[frac]! : m;
  return neg ? -v : v;
}

/** is the number [p, end) written as JSON.stringify writes its value (integers as their digits, exact)? */
function canonicalNumber(b: Uint8Array, p: number, end: number): boolean {
  let i = p;
  if (b[i] === 45) {
    // -0 is written 0
    if (b[i + 1] === 48 && end === i + 2) return false;
    i++;
  }
  let dot = -1;
  for (let j = i; j < end; j++) {
    const c = b[j]!;
    if (c === 46) dot = j;
    else if (c < 48 || c > 57) return String(numberAt(b, p, end)) === Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('latin1');
  }
  if (dot < 0) return true; // integers: exact (bigint beyond 2^53) and written digit for digit
  // a decimal of at most 15 significant digits, no trailing zero, not below 1e-6: written as is
  if (b[end - 1] === 48) return false;
  let sig = 0;
  let lead = true;
  let zeros = 0;
  for (let j = i; j < end; j++) {
    if (j === dot) continue;
    const c = b[j]!;
    if (lead && c === 48) {
      if (j > dot) zeros++;
      continue;
    }
    lead = false;
    sig++;
  }
  if (sig <= 15 && zeros < 6) return true;
  return String(numberAt(b, p, end)) === Buffer.from(b.buffer, b.byteOffset + p, end - p).toString('latin1');
}
