/**
 * Checks of Arrow IPC data before and after apache-arrow decodes it (used by ./ipc-read.ts): the
 * metadata flatbuffer of a message (every offset inside it, vector lengths that fit it, a bounded
 * number of tables visited, buffers inside the body), the schema's types, and each loaded column
 * (buffers long enough for its length, offsets ascending inside their data, dictionary indices
 * inside their dictionary). Each throws a plain Error saying what is wrong; the reader adds where.
 */
import * as A from 'apache-arrow';

/** names of the message header types, for messages */
export const MESSAGE: Record<number, string> = { 1: 'schema', 2: 'dictionary batch', 3: 'record batch', 4: 'tensor', 5: 'sparse tensor' };

const MAX_LENGTH = 2 ** 31 - 1;

/** A bounds-checked reader of one flatbuffer: every position it returns lies inside the buffer. */
class Flat {
  private readonly v: DataView;
  /**
   * bytes of tables and vectors still allowed to be visited: each visit is charged the least a
   * writer spends on it, so a buffer whose offsets point back at shared tables (a DAG, or a cycle)
   * cannot make the decoder visit more than the buffer could hold
   */
  budget: number;

  constructor(readonly b: Uint8Array) {
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.budget = b.length;
  }

  private need(at: number, n: number, what: string): void {
    if (!(at >= 0 && at + n <= this.b.length)) throw new Error(`the metadata's ${what} points outside it (byte ${at} of ${this.b.length})`);
  }

  i32(at: number): number {
    this.need(at, 4, 'data');
    return this.v.getInt32(at, true);
  }

  i16(at: number): number {
    this.need(at, 2, 'data');
    return this.v.getInt16(at, true);
  }

  i64(at: number): bigint {
    this.need(at, 8, 'data');
    return this.v.getBigInt64(at, true);
  }

  u8(at: number): number {
    this.need(at, 1, 'data');
    return this.v.getUint8(at);
  }

  /** a table at `at`: checks it and its vtable; counts against the budget */
  table(at: number, what: string): number {
    this.budget -= 4;
    if (this.budget < 0) throw new Error('the metadata refers to more tables than it can hold');
    this.need(at, 4, what);
    const vt = at - this.i32(at);
    this.need(vt, 4, `${what}'s vtable`);
    const vlen = this.v.getUint16(vt, true);
    const tlen = this.v.getUint16(vt + 2, true);
    this.need(vt, vlen, `${what}'s vtable`);
    this.need(at, Math.max(4, tlen), what);
    return at;
  }

  /** the position of field `slot` (0-based) of the table at `at`, or 0 when absent */
  field(at: number, slot: number): number {
    const vt = at - this.i32(at);
    const vlen = this.v.getUint16(vt, true);
    const o = 4 + 2 * slot;
    if (o + 2 > vlen) return 0;
    const off = this.v.getUint16(vt + o, true);
    return off ? at + off : 0;
  }

  /** the target of the offset stored at `at` (a table, vector or string) */
  ref(at: number, what: string): number {
    const to = at + this.i32(at);
    this.need(to, 4, what);
    return to;
  }

  /** the vector whose offset is stored at `at`: its first element and length, checked to fit */
  vector(at: number, elem: number, what: string): { start: number; n: number } {
    const v = this.ref(at, what);
    const n = this.i32(v);
    if (n < 0 || v + 4 + n * elem > this.b.length) throw new Error(`the metadata's ${what} claims ${n} entries, more than it can hold`);
    if (elem > 1) {
      // strings (elem 1) are not charged: their bytes are only sliced, never walked
      this.budget -= 4 + n * elem;
      if (this.budget < 0) throw new Error('the metadata refers to more entries than it can hold');
    }
    return { start: v + 4, n };
  }

  /** a table-valued field (absent: 0) */
  child(at: number, slot: number, what: string): number {
    const f = this.field(at, slot);
    return f ? this.table(this.ref(f, what), what) : 0;
  }

  /** each table of a vector-of-tables field */
  tables(at: number, slot: number, what: string): number[] {
    const f = this.field(at, slot);
    if (!f) return [];
    const { start, n } = this.vector(f, 4, what);
    return Array.from({ length: n }, (_, k) => this.table(this.ref(start + 4 * k, what), what));
  }

  /** a string field: checked to fit */
  string(at: number, slot: number, what: string): void {
    const f = this.field(at, slot);
    if (f) this.vector(f, 1, what);
  }
}

function checkKeyValues(fb: Flat, at: number, slot: number): void {
  for (const kv of fb.tables(at, slot, 'custom metadata')) {
    fb.string(kv, 0, 'metadata key');
    fb.string(kv, 1, 'metadata value');
  }
}

function checkField(fb: Flat, f: number, depth: number): void {
  if (depth > 64) throw new Error('the schema nests fields more than 64 deep');
  fb.string(f, 0, 'field name');
  fb.child(f, 3, 'field type');
  const dict = fb.child(f, 4, 'dictionary encoding');
  if (dict) fb.child(dict, 1, 'dictionary index type');
  checkKeyValues(fb, f, 6);
  for (const c of fb.tables(f, 5, 'field children')) checkField(fb, c, depth + 1);
}

function checkRecordBatch(fb: Flat, rb: number, bodyLimit: number, what: string): void {
  const lenAt = fb.field(rb, 0);
  const length = lenAt ? fb.i64(lenAt) : 0n;
  if (length < 0n || length > BigInt(MAX_LENGTH)) throw new Error(`${what} claims ${length} rows`);
  const nodesAt = fb.field(rb, 1);
  if (nodesAt) {
    const { start, n } = fb.vector(nodesAt, 16, 'field nodes');
    for (let k = 0; k < n; k++) {
      const len = fb.i64(start + 16 * k);
      const nulls = fb.i64(start + 16 * k + 8);
      if (len < 0n || len > BigInt(MAX_LENGTH)) throw new Error(`${what}: column node ${k} claims ${len} values`);
      if (nulls < 0n || nulls > len) throw new Error(`${what}: column node ${k} claims ${nulls} nulls in ${len} values`);
    }
  }
  const buffersAt = fb.field(rb, 2);
  if (buffersAt) {
    const { start, n } = fb.vector(buffersAt, 16, 'buffers');
    for (let k = 0; k < n; k++) {
      const offset = fb.i64(start + 16 * k);
      const len = fb.i64(start + 16 * k + 8);
      if (offset < 0n || len < 0n || offset + len > BigInt(bodyLimit))
        throw new Error(`${what}: buffer ${k} (offset ${offset}, ${len} bytes) lies outside the message body`);
    }
  }
  fb.child(rb, 3, 'compression');
  const variadic = fb.field(rb, 4);
  if (variadic) {
    const { start, n } = fb.vector(variadic, 8, 'variadic buffer counts');
    for (let k = 0; k < n; k++) if (fb.i64(start + 8 * k) < 0n) throw new Error(`${what}: a negative variadic buffer count`);
  }
}

/**
 * The metadata flatbuffer of one message, checked so that apache-arrow's Message.decode and
 * VectorLoader stay inside it and inside a body of at most `bodyLimit` bytes.
 */
export function checkMetadata(meta: Uint8Array, bodyLimit: number, limitWhat = `the ${bodyLimit} bytes allowed`): void {
  const fb = new Flat(meta);
  const root = fb.table(fb.ref(0, 'root table'), 'message');
  const versionAt = fb.field(root, 0);
  const version = versionAt ? fb.i16(versionAt) : 0;
  // MetadataVersion V4 (Arrow 0.15+) and V5 (1.0+); older layouts are not read
  if (version !== A.MetadataVersion.V4 && version !== A.MetadataVersion.V5)
    throw new Error(`metadata version ${version + 1} is not one cq-pipe reads (V4 or V5: Arrow 0.15 or later)`);
  const typeAt = fb.field(root, 1);
  const type = typeAt ? fb.u8(typeAt) : 0;
  const bodyAt = fb.field(root, 3);
  const bodyLength = bodyAt ? fb.i64(bodyAt) : 0n;
  if (bodyLength < 0n || bodyLength > BigInt(bodyLimit)) throw new Error(`the body length ${bodyLength} exceeds ${limitWhat}`);
  checkKeyValues(fb, root, 4);
  const header = fb.child(root, 2, 'message header');
  if (!header) throw new Error(`a ${MESSAGE[type] ?? `type ${type}`} message without its header`);
  switch (type) {
    case 1: {
      for (const f of fb.tables(header, 1, 'schema fields')) checkField(fb, f, 0);
      checkKeyValues(fb, header, 2);
      const features = fb.field(header, 3);
      if (features) fb.vector(features, 8, 'schema features');
      return;
    }
    case 2: {
      const data = fb.child(header, 1, 'dictionary data');
      if (!data) throw new Error('a dictionary batch without its data');
      checkRecordBatch(fb, data, Number(bodyLength), 'the dictionary batch');
      return;
    }
    case 3:
      checkRecordBatch(fb, header, Number(bodyLength), 'the record batch');
      return;
    default:
      throw new Error(`a message of type ${MESSAGE[type] ?? type}, which is not a schema, dictionary batch or record batch`);
  }
}

/** The footer flatbuffer of an IPC file (version, schema, blocks), checked so that apache-arrow's Footer.decode stays inside it. */
export function checkFooter(footer: Uint8Array): void {
  const fb = new Flat(footer);
  const root = fb.table(fb.ref(0, 'root table'), 'footer');
  const schema = fb.child(root, 1, 'schema');
  if (!schema) throw new Error('the footer holds no schema');
  for (const f of fb.tables(schema, 1, 'schema fields')) checkField(fb, f, 0);
  checkKeyValues(fb, schema, 2);
  for (const slot of [2, 3]) {
    const at = fb.field(root, slot);
    if (at) fb.vector(at, 24, slot === 2 ? 'dictionary blocks' : 'record batch blocks');
  }
  checkKeyValues(fb, root, 4);
}

const UNIT4 = [0, 1, 2, 3];

/** a type apache-arrow and cq-pipe can hold, with sane parameters; throws naming the column */
function checkType(t: A.DataType, name: string): void {
  const bad = (why: string): never => {
    throw new Error(`column "${name}": ${why}`);
  };
  switch (t.typeId) {
    case A.Type.Null:
    case A.Type.Bool:
    case A.Type.Utf8:
    case A.Type.LargeUtf8:
    case A.Type.Binary:
    case A.Type.LargeBinary:
      return;
    case A.Type.Int:
      if (![8, 16, 32, 64].includes((t as A.Int).bitWidth)) bad(`an integer of ${(t as A.Int).bitWidth} bits`);
      return;
    case A.Type.Float:
      if (![0, 1, 2].includes((t as A.Float).precision)) bad(`a floating point precision ${(t as A.Float).precision}`);
      return;
    case A.Type.Decimal: {
      const d = t as A.Decimal;
      if (![32, 64, 128, 256].includes(d.bitWidth) || !(d.precision >= 1 && d.precision <= 76))
        bad(`a decimal of ${d.bitWidth} bits and precision ${d.precision}`);
      return;
    }
    case A.Type.Date:
      if (![0, 1].includes((t as A.Date_).unit)) bad(`a date unit ${(t as A.Date_).unit}`);
      return;
    case A.Type.Time: {
      const tt = t as A.Time;
      if (!UNIT4.includes(tt.unit) || tt.bitWidth !== (tt.unit <= A.TimeUnit.MILLISECOND ? 32 : 64)) bad(`a time of unit ${tt.unit} in ${tt.bitWidth} bits`);
      return;
    }
    case A.Type.Timestamp:
      if (!UNIT4.includes((t as A.Timestamp).unit)) bad(`a timestamp unit ${(t as A.Timestamp).unit}`);
      return;
    case A.Type.Duration:
      if (!UNIT4.includes((t as A.Duration).unit)) bad(`a duration unit ${(t as A.Duration).unit}`);
      return;
    case A.Type.Interval:
      if (![0, 1, 2].includes((t as A.Interval).unit)) bad(`an interval unit ${(t as A.Interval).unit}`);
      return;
    case A.Type.FixedSizeBinary:
      if (!((t as A.FixedSizeBinary).byteWidth >= 1)) bad(`a fixed-size binary of ${(t as A.FixedSizeBinary).byteWidth} bytes`);
      return;
    case A.Type.List:
    case A.Type.LargeList:
    case A.Type.FixedSizeList:
    case A.Type.Map: {
      if (t.children?.length !== 1 || !t.children[0]) bad('a list without its one child');
      if (t.typeId === A.Type.FixedSizeList && !((t as A.FixedSizeList).listSize >= 0)) bad(`a list size ${(t as A.FixedSizeList).listSize}`);
      const child = t.children[0]!;
      if (t.typeId === A.Type.Map && (child.type.typeId !== A.Type.Struct || child.type.children.length !== 2))
        bad('a map whose entries are not key/value structs');
      checkType(child.type, `${name}.${child.name}`);
      return;
    }
    case A.Type.Struct:
      for (const c of t.children) checkType(c.type, `${name}.${c.name}`);
      return;
    case A.Type.Union: {
      const u = t as A.Union;
      if (u.typeIds.length !== u.children.length) bad('a union whose type ids do not match its children');
      for (const c of u.children) checkType(c.type, `${name}.${c.name}`);
      return;
    }
    case A.Type.Dictionary: {
      const d = t as A.Dictionary;
      const ix = d.indices as A.DataType;
      if (ix.typeId !== A.Type.Int || ![8, 16, 32, 64].includes((ix as A.Int).bitWidth)) bad('dictionary indices that are not integers');
      checkType(d.dictionary, name);
      return;
    }
    default:
      bad(`type ${A.Type[t.typeId] ?? t.typeId}, which cq-pipe does not read`);
  }
}

/** the schema's types (throws naming the column) */
export function checkSchema(schema: A.Schema): void {
  for (const f of schema.fields) checkType(f.type, f.name);
}

/** the value offsets of a variable-width or list column: enough of them, ascending, inside [0, limit] */
function checkOffsets(o: Int32Array | BigInt64Array | undefined, from: number, n: number, limit: number, what: string): void {
  if (!o || o.length < from + n + 1) {
    if (n === 0) return;
    throw new Error(`${what}: ${o?.length ?? 0} offsets for ${n} values`);
  }
  let prev = Number(o[from]);
  if (prev < 0 || prev > limit) throw new Error(`${what}: offset ${prev} outside its ${limit} values`);
  for (let i = from + 1; i <= from + n; i++) {
    const x = Number(o[i]);
    if (x < prev || x > limit) throw new Error(`${what}: offset ${x} at ${i - from} is ${x < prev ? 'below the one before' : `past its ${limit} values`}`);
    prev = x;
  }
}

/** A loaded column: every buffer long enough for its length, offsets and dictionary indices inside their targets. */
export function checkData(d: A.Data, what = `column of ${String(d.type)}`): void {
  const n = d.length;
  const off = d.offset;
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${what}: a length of ${n}`);
  const nb = d.nullBitmap;
  if (d.nullCount > 0 && (!nb || nb.length * 8 < off + n)) throw new Error(`${what}: a validity bitmap of ${nb?.length ?? 0} bytes for ${n} values`);
  const t = d.type;
  switch (t.typeId) {
    case A.Type.Null:
      return;
    case A.Type.Bool:
      if ((d.values?.length ?? 0) * 8 < off + n) throw new Error(`${what}: ${d.values?.length ?? 0} bytes of booleans for ${n} values`);
      return;
    case A.Type.Int:
    case A.Type.Float:
    case A.Type.Decimal:
    case A.Type.Date:
    case A.Type.Time:
    case A.Type.Timestamp:
    case A.Type.Duration:
    case A.Type.Interval:
    case A.Type.FixedSizeBinary:
      if ((d.values?.length ?? 0) < (off + n) * d.stride) throw new Error(`${what}: a data buffer too short for ${n} values`);
      return;
    case A.Type.Utf8:
    case A.Type.Binary:
    case A.Type.LargeUtf8:
    case A.Type.LargeBinary:
      checkOffsets(d.valueOffsets as Int32Array | BigInt64Array, off, n, d.values?.length ?? 0, what);
      return;
    case A.Type.List:
    case A.Type.LargeList:
    case A.Type.Map: {
      const child = d.children[0]!;
      checkOffsets(d.valueOffsets as Int32Array | BigInt64Array, off, n, child.length, what);
      checkData(child, `${what} (its values)`);
      return;
    }
    case A.Type.FixedSizeList: {
      const child = d.children[0]!;
      if (child.length < (off + n) * (t as A.FixedSizeList).listSize) throw new Error(`${what}: ${child.length} values for ${n} lists`);
      checkData(child, `${what} (its values)`);
      return;
    }
    case A.Type.Struct:
      d.children.forEach((c, k) => {
        if (c.length < off + n) throw new Error(`${what}: field ${k} has ${c.length} values for ${n} rows`);
        checkData(c, `${what} (field ${(t as A.Struct).children[k]?.name ?? k})`);
      });
      return;
    case A.Type.Union: {
      const u = t as A.Union;
      const ids = d.typeIds;
      if (!ids || ids.length < off + n) throw new Error(`${what}: ${ids?.length ?? 0} type ids for ${n} values`);
      const dense = u.mode === A.UnionMode.Dense;
      const vo = d.valueOffsets as Int32Array | undefined;
      if (dense && (!vo || vo.length < off + n)) throw new Error(`${what}: ${vo?.length ?? 0} offsets for ${n} values`);
      for (let i = off; i < off + n; i++) {
        const k = u.typeIdToChildIndex[ids[i]!];
        if (k === undefined) throw new Error(`${what}: type id ${ids[i]} at ${i - off} is not one of the union's`);
        const c = d.children[k]!;
        if (dense ? !(vo![i]! >= 0 && vo![i]! < c.length) : c.length < off + n) throw new Error(`${what}: value ${i - off} lies outside its child`);
      }
      for (const c of d.children) checkData(c, `${what} (a member)`);
      return;
    }
    case A.Type.Dictionary: {
      const dict = d.dictionary;
      if (!dict) throw new Error(`${what}: its dictionary (id ${(t as A.Dictionary).id}) was never sent`);
      const idx = d.values as unknown as ArrayLike<number | bigint>;
      if (!idx || idx.length < off + n) throw new Error(`${what}: ${idx?.length ?? 0} indices for ${n} values`);
      const size = dict.length;
      const valid = d.nullCount > 0 ? (i: number) => ((nb![(off + i) >> 3]! >> ((off + i) & 7)) & 1) === 1 : () => true;
      for (let i = 0; i < n; i++) {
        if (!valid(i)) continue;
        const x = Number(idx[off + i]);
        if (!(x >= 0 && x < size)) throw new Error(`${what}: index ${x} at ${i} is outside its dictionary of ${size} values`);
      }
      return;
    }
    default:
      throw new Error(`${what}: type ${A.Type[t.typeId] ?? t.typeId}, which cq-pipe does not read`);
  }
}
