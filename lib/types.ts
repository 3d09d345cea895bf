/**
 * The column type vocabulary of docs/config.md and its mapping to Arrow types.
 *
 * Storage follows CloudQuery's Arrow extension types so streams stay CloudQuery-shaped:
 *   uuid → FixedSizeBinary(16), json → Binary, inet → Binary, each tagged with the field
 *   metadata `ARROW:extension:name` (and `ARROW:extension:metadata` = "<name>-serialized").
 *   timestamp → Timestamp(µs, "UTC"), date32 → Date(day), time64 → Time(µs),
 *   decimal(P,S) → Decimal128(P,S), list<T> → List, struct<a: T, …> → Struct.
 */
import * as A from 'apache-arrow';
import { ConfigError } from './errors.js';

export const EXT_NAME = 'ARROW:extension:name';
export const EXT_META = 'ARROW:extension:metadata';
export const EXTENSION_TYPES = ['uuid', 'json', 'inet'] as const;
export type ExtensionName = (typeof EXTENSION_TYPES)[number];

export interface ColumnType {
  type: A.DataType;
  /** CloudQuery extension name (uuid, json, inet), if any */
  extension?: ExtensionName;
}

const SIMPLE: Record<string, () => A.DataType> = {
  bool: () => new A.Bool(),
  int8: () => new A.Int8(),
  int16: () => new A.Int16(),
  int32: () => new A.Int32(),
  int64: () => new A.Int64(),
  uint8: () => new A.Uint8(),
  uint16: () => new A.Uint16(),
  uint32: () => new A.Uint32(),
  uint64: () => new A.Uint64(),
  float32: () => new A.Float32(),
  float64: () => new A.Float64(),
  utf8: () => new A.Utf8(),
  large_utf8: () => new A.LargeUtf8(),
  binary: () => new A.Binary(),
  date32: () => new A.DateDay(),
  time64: () => new A.TimeMicrosecond(),
  timestamp: () => new A.TimestampMicrosecond('UTC'),
  uuid: () => new A.FixedSizeBinary(16),
  json: () => new A.Binary(),
  inet: () => new A.Binary(),
};

/** Aliases accepted in config for convenience; the canonical names are the keys of SIMPLE. */
const ALIASES: Record<string, string> = {
  boolean: 'bool',
  string: 'utf8',
  text: 'utf8',
  int: 'int64',
  integer: 'int64',
  float: 'float64',
  double: 'float64',
  date: 'date32',
  time: 'time64',
  'timestamp[us]': 'timestamp',
};

export const TYPE_NAMES = [...Object.keys(SIMPLE), 'decimal(P,S)', 'list<T>', 'struct<name: T, …>'];

/** A column type name that does not parse (`decimal(40,2)`, `lst<int8>`): a config error. */
export class TypeParseError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'TypeParseError';
  }
}

/** Parse a column type name (`int64`, `decimal(10,2)`, `list<utf8>`, `struct<a: int64, b: utf8>`). */
export function parseColumnType(input: string): ColumnType {
  const p = new Parser(input);
  const t = p.parseType();
  p.skipWs();
  if (!p.done()) throw new TypeParseError(`unexpected "${input.slice(p.pos)}" in type "${input}"`);
  return t;
}

class Parser {
  pos = 0;
  constructor(readonly s: string) {}
  done(): boolean {
    return this.pos >= this.s.length;
  }
  skipWs(): void {
    while (!this.done() && /\s/.test(this.s[this.pos]!)) this.pos++;
  }
  expect(ch: string): void {
    this.skipWs();
    if (this.s[this.pos] !== ch) throw new TypeParseError(`expected "${ch}" at position ${this.pos} of type "${this.s}"`);
    this.pos++;
  }
  ident(): string {
    this.skipWs();
    const m = /^[A-Za-z_][A-Za-z0-9_]*(\[us\])?/.exec(this.s.slice(this.pos));
    if (!m) throw new TypeParseError(`expected a type name at position ${this.pos} of "${this.s}"`);
    this.pos += m[0].length;
    return m[0];
  }
  int(): number {
    this.skipWs();
    const m = /^\d+/.exec(this.s.slice(this.pos));
    if (!m) throw new TypeParseError(`expected a number at position ${this.pos} of "${this.s}"`);
    this.pos += m[0].length;
    return Number(m[0]);
  }
  peek(): string | undefined {
    this.skipWs();
    return this.s[this.pos];
  }

  parseType(): ColumnType {
    const raw = this.ident();
    const name = ALIASES[raw.toLowerCase()] ?? raw.toLowerCase();
    if (name === 'decimal' || name === 'numeric') {
      let precision = 38,
        scale = 0;
      if (this.peek() === '(') {
        this.expect('(');
        precision = this.int();
        if (this.peek() === ',') {
          this.expect(',');
          scale = this.int();
        }
        this.expect(')');
      }
      if (precision < 1 || precision > 38 || scale > precision)
        throw new TypeParseError(`decimal(${precision},${scale}) is out of range: 1 ≤ P ≤ 38, 0 ≤ S ≤ P`);
      return { type: new A.Decimal(scale, precision, 128) };
    }
    if (name === 'list') {
      this.expect('<');
      const inner = this.parseType();
      this.expect('>');
      return { type: new A.List(fieldFor('item', inner, true)) };
    }
    if (name === 'struct') {
      this.expect('<');
      const fields: A.Field[] = [];
      if (this.peek() !== '>') {
        for (;;) {
          const fname = this.ident();
          this.expect(':');
          fields.push(fieldFor(fname, this.parseType(), true));
          if (this.peek() === ',') {
            this.expect(',');
            continue;
          }
          break;
        }
      }
      this.expect('>');
      return { type: new A.Struct(fields) };
    }
    const make = SIMPLE[name];
    if (!make) throw new TypeParseError(`unknown type "${raw}"`);
    const ext = (EXTENSION_TYPES as readonly string[]).includes(name) ? (name as ExtensionName) : undefined;
    return { type: make(), extension: ext };
  }
}

/** Field metadata for an extension type. */
export function extensionMetadata(ext: ExtensionName | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (ext) {
    m.set(EXT_NAME, ext);
    m.set(EXT_META, `${ext}-serialized`);
  }
  return m;
}

export function fieldFor(name: string, t: ColumnType, nullable: boolean, metadata?: Map<string, string>): A.Field {
  const md = new Map([...(metadata ?? []), ...extensionMetadata(t.extension)]);
  return new A.Field(name, t.type, nullable, md);
}

export function extensionOf(field: A.Field): ExtensionName | undefined {
  const e = field.metadata.get(EXT_NAME);
  return e && (EXTENSION_TYPES as readonly string[]).includes(e) ? (e as ExtensionName) : undefined;
}

/** The column type name of a field (inverse of parseColumnType), e.g. for `cq-pipe tables`. */
export function typeName(field: A.Field): string {
  const ext = extensionOf(field);
  if (ext) return ext;
  return dataTypeName(field.type);
}

export function dataTypeName(t: A.DataType): string {
  switch (t.typeId) {
    case A.Type.Bool:
      return 'bool';
    case A.Type.Int: {
      const it = t as A.Int;
      return `${it.isSigned ? 'int' : 'uint'}${it.bitWidth}`;
    }
    case A.Type.Float: {
      const ft = t as A.Float;
      return ft.precision === A.Precision.HALF ? 'float16' : ft.precision === A.Precision.SINGLE ? 'float32' : 'float64';
    }
    case A.Type.Utf8:
      return 'utf8';
    case A.Type.LargeUtf8:
      return 'large_utf8';
    case A.Type.Binary:
      return 'binary';
    case A.Type.LargeBinary:
      return 'large_binary';
    case A.Type.FixedSizeBinary:
      return `fixed_size_binary(${(t as A.FixedSizeBinary).byteWidth})`;
    case A.Type.Date:
      return (t as A.Date_).unit === A.DateUnit.DAY ? 'date32' : 'date64';
    case A.Type.Time:
      return (t as A.Time).bitWidth === 64 ? 'time64' : 'time32';
    case A.Type.Timestamp: {
      const ts = t as A.Timestamp;
      const unit = ['s', 'ms', 'us', 'ns'][ts.unit]!;
      return unit === 'us' && ts.timezone ? 'timestamp' : `timestamp[${unit}${ts.timezone ? `, ${ts.timezone}` : ''}]`;
    }
    case A.Type.Decimal: {
      const d = t as A.Decimal;
      return `decimal(${d.precision},${d.scale})`;
    }
    case A.Type.List:
      return `list<${typeName((t as A.List).children[0]!)}>`;
    case A.Type.Struct:
      return `struct<${(t as A.Struct).children.map((f) => `${f.name}: ${typeName(f)}`).join(', ')}>`;
    case A.Type.Dictionary:
      return dataTypeName((t as A.Dictionary).dictionary);
    default:
      return String(t);
  }
}
