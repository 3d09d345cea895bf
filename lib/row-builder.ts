/**
 * Rows (JS values from NDJSON, JSON or CSV) → Arrow RecordBatches of a fixed schema.
 *
 * Values are collected per column and converted column by column into typed arrays when the batch
 * closes, so each column's conversion is one tight loop. A value that does not fit its column
 * raises a ValueError naming the column and the row's index in the batch; the caller maps the
 * index to a file and line.
 *
 * Coercions (documented in docs/file-source.md): numbers and numeric strings into numeric columns
 * (range-checked); "true/false/t/f/yes/no/1/0" into bool; ISO-8601 strings or Unix epoch seconds
 * into timestamps; "YYYY-MM-DD" into date32; any JSON value into json; in text formats (CSV)
 * cells holding JSON are parsed for json, list and struct columns.
 */
import * as A from 'apache-arrow';
import { bitmapBytes, setBit } from './arrow/bitmap.js';
import { makeDataOf } from './arrow/data.js';
import { parseDecimal, writeDecimal } from './arrow/decimal.js';
import { MS_PER_DAY } from './arrow/time.js';
import { uuidFromString } from './arrow/uuid.js';
import { encoder, varBuffers } from './arrow/var-binary.js';
import { isoToMicrosNumber, toDays, toMicros } from './time.js';
import { exactNestedTimestamps, hasNestedTimestamp, valueToMicros } from './nested-time.js';
import { extensionOf } from './types.js';
import { SourceDataError } from './errors.js';
import { parseJsonExact, stringifyExact } from './json-exact.js';

export { parseDecimal };

/**
 * A value that does not fit its column: `index` is the row in the batch being built. `wholeColumn`:
 * the column itself cannot be built (an unsupported type, too much data), whatever its values.
 */
export class ValueError extends SourceDataError {
  constructor(
    readonly column: string,
    readonly index: number,
    reason: string,
    readonly wholeColumn = false,
  ) {
    super(reason, { column });
    this.name = 'ValueError';
  }
}

/** A row left out of a batch by RowBatchBuilder.finishRejecting: its index, and why (the first column that does not fit). */
export interface RejectedValue {
  index: number;
  column: string;
  reason: string;
}

export class RowBatchBuilder {
  private columns: unknown[][];
  private readonly names: string[];
  length = 0;

  /** `text`: values are strings from a text format (CSV): json/list/struct cells are parsed */
  constructor(
    readonly schema: A.Schema,
    private readonly text = false,
  ) {
    this.names = schema.fields.map((f) => f.name);
    this.columns = this.names.map(() => []);
  }

  push(row: Record<string, unknown>): void {
    const names = this.names;
    for (let c = 0; c < names.length; c++) this.columns[c]!.push(row[names[c]!]);
    this.length++;
  }

  /** Convert and reset; throws ValueError for the first value that does not fit. */
  finish(): A.RecordBatch {
    const n = this.length;
    const children = this.schema.fields.map((f, c) => convertColumn(this.columns[c]!, f, this.text));
    this.columns = this.names.map(() => []);
    this.length = 0;
    return new A.RecordBatch(this.schema, A.makeData({ type: new A.Struct(this.schema.fields), length: n, nullCount: 0, children }));
  }

  /**
   * Convert and reset, leaving out the rows with a value that does not fit (for a dead-letter file):
   * `rejected` names them by index, in order. When every value fits this is finish(), no slower; else
   * each column is checked again, halving around each value that does not fit, and the batch is built
   * again of the other rows.
   * Errors of a whole column (ValueError.wholeColumn, or not a ValueError) are thrown.
   */
  finishRejecting(): { batch: A.RecordBatch; rejected: RejectedValue[] } {
    let first: number;
    try {
      return { batch: this.finish(), rejected: [] };
    } catch (err) {
      if (!(err instanceof ValueError) || err.wholeColumn) throw this.#reset(err);
      // the columns before it converted whole
      first = this.names.indexOf(err.column);
    }
    const n = this.length;
    const bad = new Map<number, RejectedValue>();
    // the errors below become reasons, never thrown on: no stack traces to capture (most of their cost)
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      this.#findRejected(first, bad);
    } finally {
      Error.stackTraceLimit = limit;
    }
    const rejected = [...bad.values()].sort((a, b) => a.index - b.index);
    this.columns = this.columns.map((values) => values.filter((_, i) => !bad.has(i)));
    this.length = n - bad.size;
    try {
      return { batch: this.finish(), rejected };
    } catch (err) {
      throw this.#reset(err);
    }
  }

  /** the rows with a value that does not fit, by row, from column `first` on (the first column that does not fit each row) */
  #findRejected(first: number, bad: Map<number, RejectedValue>): void {
    const n = this.length;
    this.schema.fields.forEach((f, c) => {
      if (c < first) return;
      const values = this.columns[c]!;
      // the rows `rows` (not yet rejected) of this column: the row an error names is rejected, the
      // others are checked again in two halves (a few conversions per bad row, not one per row)
      const check = (rows: number[]): void => {
        if (!rows.length) return;
        try {
          convertColumn(
            rows.map((i) => values[i]),
            f,
            this.text,
          );
          return;
        } catch (err) {
          if (!(err instanceof ValueError) || err.wholeColumn) throw this.#reset(err);
          const row = rows[err.index]!;
          bad.set(row, { index: row, column: f.name, reason: err.message });
          const rest = rows.filter((_, k) => k !== err.index);
          check(rest.slice(0, rest.length >> 1));
          check(rest.slice(rest.length >> 1));
        }
      };
      const rows: number[] = [];
      for (let i = 0; i < n; i++) if (!bad.has(i)) rows.push(i);
      check(rows);
    });
  }

  /** drop the rows pushed so far (after an error) and return `err` */
  #reset(err: unknown): unknown {
    this.columns = this.names.map(() => []);
    this.length = 0;
    return err;
  }
}

function isNull(v: unknown, text: boolean): boolean {
  return v === null || v === undefined || (text && v === '');
}

/** validity bitmap + null count; throws for nulls in a non-nullable column */
function validity(values: unknown[], field: A.Field, text: boolean): { nullBitmap?: Uint8Array; nullCount: number } {
  const n = values.length;
  let nullCount = 0;
  let bitmap: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    if (isNull(values[i], text)) {
      if (!field.nullable)
        throw new ValueError(field.name, i, `column "${field.name}" is not nullable but the value is ${values[i] === '' ? 'empty' : 'missing or null'}`);
      if (!bitmap) {
        bitmap = new Uint8Array(bitmapBytes(n));
        for (let j = 0; j < i; j++) setBit(bitmap, j);
      }
      nullCount++;
    } else if (bitmap) {
      setBit(bitmap, i);
    }
  }
  return bitmap ? { nullBitmap: bitmap, nullCount } : { nullCount: 0 };
}

function describe(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? stringifyExact(v) : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function fail(field: A.Field, i: number, v: unknown, what: string): never {
  throw new ValueError(field.name, i, `column "${field.name}": ${describe(v)} is not ${what}`);
}

const TRUE = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0']);
const INT_RE = /^[+-]?\d+$/;

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

/** The column of `values` (JS values as JSON.parse gives them), as a batch's column is built; throws ValueError. */
export function convertValues(values: unknown[], field: A.Field): A.Data {
  return convertColumn(values, field, false);
}

function convertColumn(values: unknown[], field: A.Field, text: boolean): A.Data {
  const t = field.type as A.DataType;
  const n = values.length;
  const { nullBitmap, nullCount } = validity(values, field, text);
  const base = { type: t, length: n, nullCount, nullBitmap } as const;
  const ext = extensionOf(field);
  const nul = (i: number) => isNull(values[i], text);

  switch (t.typeId) {
    case A.Type.Bool: {
      const data = new Uint8Array(bitmapBytes(n));
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (nul(i)) continue;
        let b: boolean;
        if (typeof v === 'boolean') b = v;
        else if (typeof v === 'number' && (v === 0 || v === 1)) b = v === 1;
        else if (typeof v === 'string' && TRUE.has(v.toLowerCase())) b = true;
        else if (typeof v === 'string' && FALSE.has(v.toLowerCase())) b = false;
        else fail(field, i, v, 'a boolean');
        if (b) setBit(data, i);
      }
      return makeDataOf({ ...base, data });
    }
    case A.Type.Int: {
      const it = t as A.Int;
      if (it.bitWidth === 64) {
        const data = new Int32Array(n * 2);
        const signed = it.isSigned;
        for (let i = 0; i < n; i++) {
          if (nul(i)) continue;
          const v = values[i];
          if (typeof v === 'number' && Number.isSafeInteger(v) && (signed || v >= 0)) {
            data[2 * i] = v | 0; // low 32 bits (ToInt32 is modulo 2^32)
            data[2 * i + 1] = Math.floor(v / 4294967296) | 0;
            continue;
          }
          let big: bigint;
          if (typeof v === 'string' && INT_RE.test(v.trim())) big = BigInt(v.trim());
          else if (typeof v === 'bigint') big = v;
          else fail(field, i, v, signed ? 'a 64-bit integer' : 'an unsigned 64-bit integer');
          const min = signed ? -(1n << 63n) : 0n;
          const max = signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
          if (big < min || big > max) fail(field, i, v, `in range for ${signed ? 'int64' : 'uint64'}`);
          const u = BigInt.asUintN(64, big);
          data[2 * i] = Number(u & 0xffffffffn) | 0;
          data[2 * i + 1] = Number(u >> 32n) | 0;
        }
        return makeDataOf({ ...base, data: signedArray(it, data) });
      }
      const Ctor = { 8: it.isSigned ? Int8Array : Uint8Array, 16: it.isSigned ? Int16Array : Uint16Array, 32: it.isSigned ? Int32Array : Uint32Array }[
        it.bitWidth as 8 | 16 | 32
      ];
      const min = it.isSigned ? -(2 ** (it.bitWidth - 1)) : 0;
      const max = it.isSigned ? 2 ** (it.bitWidth - 1) - 1 : 2 ** it.bitWidth - 1;
      const data = new Ctor(n);
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        const x = toNumber(v);
        if (!Number.isInteger(x)) fail(field, i, v, 'an integer');
        if (x < min || x > max) fail(field, i, v, `in range for ${it.isSigned ? 'int' : 'uint'}${it.bitWidth} (${min}..${max})`);
        data[i] = x;
      }
      return makeDataOf({ ...base, data });
    }
    case A.Type.Float: {
      const ft = t as A.Float;
      const data = ft.precision === A.Precision.SINGLE ? new Float32Array(n) : new Float64Array(n);
      if (ft.precision === A.Precision.HALF) throw new ValueError(field.name, 0, `column "${field.name}": float16 is not supported`, true);
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        const x = toNumber(v);
        if (Number.isNaN(x) && typeof v !== 'number' && !(typeof v === 'string' && v.trim().toLowerCase() === 'nan')) fail(field, i, v, 'a number');
        data[i] = x;
      }
      return makeDataOf({ ...base, data });
    }
    case A.Type.Decimal: {
      const dt = t as A.Decimal;
      const data = new Uint32Array(n * (dt.bitWidth / 32));
      const words = dt.bitWidth / 32;
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        const scaled = parseDecimal(v, dt.scale);
        if (scaled === undefined) fail(field, i, v, `a decimal with at most ${dt.scale} fraction digits`);
        if ((scaled < 0n ? -scaled : scaled) >= 10n ** BigInt(dt.precision)) fail(field, i, v, `within decimal(${dt.precision},${dt.scale})`);
        writeDecimal(data, i, words, scaled);
      }
      return makeDataOf({ ...base, data });
    }
    case A.Type.Utf8:
    case A.Type.LargeUtf8:
    case A.Type.Binary:
    case A.Type.LargeBinary: {
      const isText = t.typeId === A.Type.Utf8 || t.typeId === A.Type.LargeUtf8;
      const large = t.typeId === A.Type.LargeUtf8 || t.typeId === A.Type.LargeBinary;
      if (isText || ext === 'json' || ext === 'inet') {
        // every value as a JS string, then one UTF-8 encode of the whole column
        const strs: string[] = new Array(n);
        for (let i = 0; i < n; i++) {
          if (nul(i)) {
            strs[i] = '';
            continue;
          }
          const v = values[i];
          if (ext === 'json') {
            if (text && typeof v === 'string') {
              try {
                JSON.parse(v);
              } catch {
                fail(field, i, v, 'valid JSON');
              }
              strs[i] = v;
            } else {
              strs[i] = stringifyExact(v);
            }
          } else {
            strs[i] = typeof v === 'string' ? v : typeof v === 'object' ? stringifyExact(v) : String(v);
          }
        }
        const joined = strs.join('');
        const data = Buffer.from(joined, 'utf8');
        if (!large && data.length > 0x7fffffff)
          throw new ValueError(field.name, n - 1, `column "${field.name}": more than 2 GiB of data in one batch; lower batch_rows`, true);
        const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
        const ascii = data.length === joined.length;
        let off = 0;
        for (let i = 0; i < n; i++) {
          off += ascii ? strs[i]!.length : Buffer.byteLength(strs[i]!, 'utf8');
          if (large) (offsets as BigInt64Array)[i + 1] = BigInt(off);
          else (offsets as Int32Array)[i + 1] = off;
        }
        return makeDataOf({ ...base, valueOffsets: offsets, data: new Uint8Array(data.buffer, data.byteOffset, data.length) });
      }
      const bytes: (Uint8Array | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        if (nul(i)) {
          bytes[i] = null;
          continue;
        }
        const v = values[i];
        if (typeof v !== 'string') fail(field, i, v, 'base64 text');
        bytes[i] = Buffer.from(v, 'base64');
      }
      const { offsets, data } = varBuffers(bytes, large);
      return makeDataOf({ ...base, valueOffsets: offsets, data });
    }
    case A.Type.FixedSizeBinary: {
      const width = (t as A.FixedSizeBinary).byteWidth;
      const data = new Uint8Array(n * width);
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        if (ext === 'uuid' || width === 16) {
          if (typeof v !== 'string' || !uuidFromString(v, data, i * width)) fail(field, i, v, 'a UUID');
        } else {
          if (typeof v !== 'string') fail(field, i, v, 'base64 text');
          const b = Buffer.from(v, 'base64');
          if (b.length !== width) fail(field, i, v, `${width} bytes`);
          data.set(b, i * width);
        }
      }
      return makeDataOf({ ...base, data });
    }
    case A.Type.Timestamp: {
      const unit = (t as A.Timestamp).unit;
      const per = unit === A.TimeUnit.SECOND ? 1_000_000 : unit === A.TimeUnit.MILLISECOND ? 1000 : unit === A.TimeUnit.MICROSECOND ? 1 : 0.001;
      // int64 written as two int32 words, so the common case needs no BigInt per value
      const words = new Int32Array(n * 2);
      const data = new BigInt64Array(words.buffer);
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        if (per === 1) {
          const fast = typeof v === 'string' ? isoToMicrosNumber(v) : NaN;
          if (!Number.isNaN(fast)) {
            words[2 * i] = fast | 0;
            words[2 * i + 1] = Math.floor(fast / 4294967296) | 0;
            continue;
          }
        }
        let us: bigint;
        if (typeof v === 'string') {
          try {
            us = toMicros(v);
          } catch {
            fail(field, i, v, 'an ISO-8601 timestamp');
          }
        } else if (typeof v === 'number' && Number.isFinite(v)) {
          us = BigInt(Math.round(v * 1_000_000)); // Unix epoch seconds
        } else fail(field, i, v, 'a timestamp');
        data[i] = per === 1 ? us : per < 1 ? us * 1000n : us / BigInt(per);
      }
      return makeDataOf({ ...base, data });
    }
    case A.Type.Date: {
      const dt = t as A.Date_;
      const days = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        let d: number;
        if (typeof v === 'string') d = toDays(v);
        else if (typeof v === 'number' && Number.isInteger(v)) d = v;
        else fail(field, i, v, 'a date (YYYY-MM-DD)');
        if (!(d >= -0x7fffffff && d <= 0x7fffffff)) fail(field, i, v, 'a valid date (YYYY-MM-DD)');
        days[i] = d;
      }
      if (dt.unit === A.DateUnit.DAY) return makeDataOf({ ...base, data: days });
      const ms64 = new BigInt64Array(n);
      for (let i = 0; i < n; i++) ms64[i] = BigInt(days[i]!) * BigInt(MS_PER_DAY);
      return makeDataOf({ ...base, data: ms64 });
    }
    case A.Type.Time: {
      const tt = t as A.Time;
      const us = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        if (nul(i)) continue;
        const v = values[i];
        const m = typeof v === 'string' ? /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/.exec(v.trim()) : null;
        if (!m || +m[1]! > 23 || +m[2]! > 59 || +(m[3] ?? 0) > 59) fail(field, i, v, 'a time (HH:MM:SS[.ffffff])');
        us[i] = BigInt(((+m[1]! * 60 + +m[2]!) * 60 + +(m[3] ?? 0)) * 1_000_000 + +((m[4] ?? '') + '000000').slice(0, 6));
      }
      if (tt.unit === A.TimeUnit.MICROSECOND) return makeDataOf({ ...base, data: us });
      if (tt.unit === A.TimeUnit.NANOSECOND) return makeDataOf({ ...base, data: us.map((x) => x * 1000n) });
      const div = tt.unit === A.TimeUnit.MILLISECOND ? 1000n : 1_000_000n;
      return makeDataOf({ ...base, data: Int32Array.from(us, (x) => Number(x / div)) });
    }
    case A.Type.List:
    case A.Type.Struct: {
      // nested values are rare on the hot path: use Arrow's builders, converting leaves first
      const builder = A.makeBuilder({ type: t, nullValues: [null, undefined] });
      const exact = hasNestedTimestamp(t) ? new Array<unknown>(n) : undefined;
      for (let i = 0; i < n; i++) {
        let v = values[i];
        if (nul(i)) {
          builder.append(null);
          continue;
        }
        if (text && typeof v === 'string') {
          try {
            v = parseJsonExact(v); // integers beyond 2^53 stay exact, as in NDJSON
          } catch {
            fail(field, i, v, 'JSON');
          }
        }
        try {
          builder.append(nested(v, t));
        } catch (err) {
          fail(field, i, v, `${t.typeId === A.Type.List ? 'a list' : 'an object'} of the column's type (${(err as Error).message})`);
        }
        if (exact) exact[i] = v;
      }
      const out = builder.finish().flush();
      // the builders took timestamps as ms: the leaves get their exact µs / ns (lib/nested-time.ts)
      if (exact) exactNestedTimestamps(out, exact);
      return out;
    }
    case A.Type.Null:
      return makeDataOf({ type: t, length: n, nullCount: n });
    default:
      throw new ValueError(field.name, 0, `column "${field.name}": type ${String(t)} cannot be read from rows`, true);
  }
}

function signedArray(it: A.Int, words: Int32Array): BigInt64Array | BigUint64Array {
  return it.isSigned ? new BigInt64Array(words.buffer) : new BigUint64Array(words.buffer);
}

/** A nested JS value → what Arrow's builders accept for `t`. */
function nested(v: unknown, t: A.DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (t.typeId) {
    case A.Type.List: {
      if (!Array.isArray(v)) throw new SourceDataError('expected an array');
      const child = (t as A.List).children[0]!.type;
      return v.map((x) => nested(x, child));
    }
    case A.Type.Struct: {
      if (typeof v !== 'object' || Array.isArray(v)) throw new SourceDataError('expected an object');
      const o: Record<string, unknown> = {};
      for (const f of (t as A.Struct).children) o[f.name] = nested((v as Record<string, unknown>)[f.name], f.type);
      return o;
    }
    case A.Type.Int:
      if ((t as A.Int).bitWidth === 64) return BigInt(v as number | string);
      if (!Number.isInteger(toNumber(v))) throw new SourceDataError(`${describe(v)} is not an integer`);
      return toNumber(v);
    case A.Type.Float: {
      const x = toNumber(v);
      if (Number.isNaN(x)) throw new SourceDataError(`${describe(v)} is not a number`);
      return x;
    }
    case A.Type.Bool:
      if (typeof v !== 'boolean') throw new SourceDataError(`${describe(v)} is not a boolean`);
      return v;
    case A.Type.Utf8:
    case A.Type.LargeUtf8:
      return typeof v === 'string' ? v : stringifyExact(v);
    case A.Type.Timestamp:
      return Number(valueToMicros(v) / 1000n); // builders take ms; exactNestedTimestamps writes the exact value
    case A.Type.Binary:
      return typeof v === 'string' ? encoder.encode(v) : encoder.encode(stringifyExact(v));
    default:
      return v;
  }
}
