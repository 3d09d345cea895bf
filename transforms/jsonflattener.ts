/**
 * The `jsonflattener` transformer (docs/transformers.md; CloudQuery's `plugins/transformer/jsonflattener`):
 *
 *   kind: transformer
 *   spec:
 *     name: flatten
 *     path: jsonflattener
 *     spec:
 *       tables: ["aws_*"]              # globs, default ["*"]
 *       type_schemas:                  # cq-pipe extension, for sources that publish no type schema
 *         details: { field_1: timestamp, field_2: utf8, field_3: bool, field_4: int64 }
 *
 * For each selected table, every JSON column whose keys have a known type gets one extra column per
 * top-level key, named `<column>__<key>`, appended after the existing columns (JSON columns in name
 * order, keys in name order, as CloudQuery orders them). The original JSON column is kept. Nested
 * objects and arrays are not flattened (they become `json` columns); there is no recursion.
 *
 * Types come from the field metadata `cq:extension:type_schema` (a JSON object key → type that
 * CloudQuery sources publish) or, when a column has none, from `type_schemas` in this spec.
 * Types: utf8, int64, float64, bool, json, uuid, `timestamp[us, tz=UTC]` (also `timestamp`);
 * `any`, `binary` and nested objects become json. Values that do not have the key's type become
 * null (a string under an int64 key, an unparsable timestamp …). Keys are matched as written, or
 * in snake_case when that matches more keys of the type schema (CloudQuery does the same).
 */
import * as A from 'apache-arrow';
import picomatch from 'picomatch';
import type { ValidateFunction } from 'ajv';
import { schemaValidator } from '../lib/config/precompiled.js';
import type { SyncMessage } from '../lib/messages.js';
import type { SpecProblem } from '../lib/connector.js';
import { ConfigError, InternalError } from '../lib/errors.js';
import { batchFromColumns, tableName } from '../lib/schema.js';
import { extensionOf, fieldFor, parseColumnType } from '../lib/types.js';
import { uuidFromString } from '../lib/arrow/index.js';
import { toMicros } from '../lib/time.js';
import { validityBitmap, decoder, encoder, nullTest, varBytes, varData } from '../lib/arrow/index.js';
import { defineTransformer, specProblemsError, transformFailure, type MessageStage } from '../lib/transformer.js';
import { ajvSpecProblems } from './basic/spec.js';
import type { StageContext } from './basic/plan.js';

export const MD_TYPE_SCHEMA = 'cq:extension:type_schema';

/** flattened column types (CloudQuery's names) → cq-pipe column types */
const TYPES: Record<string, string> = {
  utf8: 'utf8',
  int64: 'int64',
  float64: 'float64',
  bool: 'bool',
  json: 'json',
  uuid: 'uuid',
  'timestamp[us, tz=UTC]': 'timestamp',
  timestamp: 'timestamp',
  any: 'json',
  binary: 'json',
};
export const FLATTEN_TYPES = Object.keys(TYPES);

export interface JsonFlattenerSpec {
  tables: string[];
  type_schemas?: Record<string, Record<string, unknown>>;
}

export const jsonflattenerSpecSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tables: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*'] },
    type_schemas: {
      type: 'object',
      additionalProperties: { type: 'object', additionalProperties: { type: ['string', 'object'] } },
    },
  },
} as const;

// compiled on first use: a process that never validates this transformer pays nothing at start-up
let compiled: ValidateFunction | undefined;
const validateSchema = (): ValidateFunction => (compiled ??= schemaValidator(jsonflattenerSpecSchema));

export function parseJsonFlattenerSpec(spec: unknown): { spec?: JsonFlattenerSpec; problems: SpecProblem[] } {
  const copy = structuredClone(spec ?? {}) as JsonFlattenerSpec;
  const validate = validateSchema();
  if (!validate(copy)) return { problems: ajvSpecProblems(validate.errors ?? []) };
  const problems: SpecProblem[] = [];
  for (const [col, keys] of Object.entries(copy.type_schemas ?? {})) {
    for (const [key, typ] of Object.entries(keys)) {
      if (typeof typ === 'string' && !(typ in TYPES)) {
        problems.push({ keyPath: ['spec', 'type_schemas', col, key], message: `unknown type "${typ}"`, hint: `types: ${FLATTEN_TYPES.join(', ')}` });
      }
    }
  }
  return problems.length ? { problems } : { spec: copy, problems };
}

export function validateJsonFlattenerSpec(spec: unknown): SpecProblem[] {
  return parseJsonFlattenerSpec(spec).problems;
}

/** key → cq-pipe type; nested objects (and any/binary) → json */
function normalizeTypeSchema(raw: Record<string, unknown>): Map<string, string> | string {
  const out = new Map<string, string>();
  for (const key of Object.keys(raw).sort()) {
    const typ = raw[key];
    if (typeof typ !== 'string') {
      out.set(key, 'json');
      continue;
    }
    const t = TYPES[typ];
    if (!t) return typ;
    out.set(key, t);
  }
  return out;
}

/** snake_case as CloudQuery's caser does for the common cases: fieldOne, FieldOne, HTTPServer, field1Name */
export function toSnake(s: string): string {
  return s
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[-\s]+/g, '_')
    .toLowerCase();
}

interface FlatColumn {
  /** index of the JSON column */
  from: number;
  keys: { key: string; type: string; field: A.Field }[];
}

interface Plan {
  input: A.Schema;
  out: A.Schema;
  columns: FlatColumn[];
}

/** Parse one JSON cell into an object (anything else: no keys). */
function parseObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(decoder.decode(bytes)) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function parseTimestamp(v: unknown): bigint | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    return toMicros(v);
  } catch {
    // RFC 1123 / RFC 822 / ANSI C forms (CloudQuery tries these too)
    if (/[A-Za-z]{3}/.test(v)) {
      const ms = Date.parse(v);
      if (!Number.isNaN(ms)) return BigInt(ms) * 1000n;
    }
    return undefined;
  }
}

/** Build the Arrow column of one key from the parsed rows. */
function buildColumn(type: string, values: unknown[]): A.Data {
  const n = values.length;
  switch (type) {
    case 'utf8':
      return varData(
        new A.Utf8(),
        values.map((v) => (typeof v === 'string' ? encoder.encode(v) : null)),
      );
    case 'json':
      return varData(
        new A.Binary(),
        values.map((v) => (v === undefined || v === null ? null : encoder.encode(JSON.stringify(v)))),
      );
    case 'int64': {
      const out = new BigInt64Array(n);
      const ok = values.map((v, i) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) return false;
        out[i] = BigInt(Math.trunc(v));
        return true;
      });
      const { bitmap, nullCount } = validityBitmap(n, (i) => ok[i]!);
      return A.makeData({ type: new A.Int64(), length: n, nullCount, nullBitmap: bitmap, data: out });
    }
    case 'float64': {
      const out = new Float64Array(n);
      const ok = values.map((v, i) => {
        if (typeof v !== 'number') return false;
        out[i] = v;
        return true;
      });
      const { bitmap, nullCount } = validityBitmap(n, (i) => ok[i]!);
      return A.makeData({ type: new A.Float64(), length: n, nullCount, nullBitmap: bitmap, data: out });
    }
    case 'bool': {
      const out = new Uint8Array((n + 7) >> 3);
      values.forEach((v, i) => {
        if (v === true) out[i >> 3]! |= 1 << (i & 7);
      });
      const { bitmap, nullCount } = validityBitmap(n, (i) => typeof values[i] === 'boolean');
      return A.makeData({ type: new A.Bool(), length: n, nullCount, nullBitmap: bitmap, data: out });
    }
    case 'timestamp': {
      const out = new BigInt64Array(n);
      const ok = values.map((v, i) => {
        const us = parseTimestamp(v);
        if (us === undefined) return false;
        out[i] = us;
        return true;
      });
      const { bitmap, nullCount } = validityBitmap(n, (i) => ok[i]!);
      return A.makeData({ type: new A.TimestampMicrosecond('UTC'), length: n, nullCount, nullBitmap: bitmap, data: out });
    }
    case 'uuid': {
      const out = new Uint8Array(16 * n);
      const ok = values.map((v, i) => typeof v === 'string' && uuidFromString(v, out, i * 16) !== undefined);
      const { bitmap, nullCount } = validityBitmap(n, (i) => ok[i]!);
      return A.makeData({ type: new A.FixedSizeBinary(16), length: n, nullCount, nullBitmap: bitmap, data: out });
    }
    default:
      // the spec's types were checked at config load (FLATTEN_TYPES)
      throw new InternalError(`jsonflattener: no column builder for flatten type "${type}"`);
  }
}

/** The type schema of a json column: its field metadata, else `type_schemas` in the spec; undefined when none or empty. */
function typeSchemaOf(f: A.Field, spec: JsonFlattenerSpec): Record<string, unknown> | undefined {
  let raw: Record<string, unknown> | undefined;
  const md = f.metadata.get(MD_TYPE_SCHEMA);
  if (md) {
    try {
      const v = JSON.parse(md) as unknown;
      // a type schema that is not an object (an array's) is skipped, as in CloudQuery
      if (v && typeof v === 'object' && !Array.isArray(v)) raw = v as Record<string, unknown>;
    } catch {
      /* not JSON: skipped */
    }
  } else {
    raw = spec.type_schemas?.[f.name];
  }
  return raw !== undefined && Object.keys(raw).length > 0 ? raw : undefined;
}

/** The plan of one table shape: the flattened columns appended after the input's. */
function compilePlan(spec: JsonFlattenerSpec, ctx: StageContext, table: string, input: A.Schema): Plan {
  const existing = new Set(input.fields.map((f) => f.name));
  const cols = input.fields
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => extensionOf(f) === 'json')
    .map(({ f, i }) => ({ f, i, raw: typeSchemaOf(f, spec) }))
    .filter((c): c is { f: A.Field; i: number; raw: Record<string, unknown> } => c.raw !== undefined)
    .sort((a, b) => (a.f.name < b.f.name ? -1 : a.f.name > b.f.name ? 1 : 0));
  if (!cols.length) return { input, out: input, columns: [] };
  const fields = [...input.fields];
  const columns: FlatColumn[] = [];
  for (const c of cols) {
    const ts = normalizeTypeSchema(c.raw);
    if (typeof ts === 'string') {
      throw new ConfigError(
        `transformer ${ctx.name}: unsupported type "${ts}" in the type schema of column ${table}.${c.f.name}`,
        { connector: `transformer ${ctx.name}`, table, column: c.f.name, ...(ctx.origin ? { file: ctx.origin.file, document: ctx.origin.document } : {}) },
        `types: ${FLATTEN_TYPES.join(', ')}`,
      );
    }
    const keys: FlatColumn['keys'] = [];
    for (const [key, type] of ts) {
      let name = `${c.f.name}__${key}`;
      while (existing.has(name)) name += '_';
      existing.add(name);
      const field = fieldFor(name, parseColumnType(type), true);
      fields.push(field);
      keys.push({ key, type, field });
    }
    columns.push({ from: c.i, keys });
  }
  return { input, out: new A.Schema(fields, input.metadata), columns };
}

/** The rows of one JSON column as objects, keys matched as written or in snake_case. */
function rowsOf(d: A.Data, keys: string[]): (Record<string, unknown> | undefined)[] {
  const get = varBytes(d);
  const isNull = nullTest(d);
  const out: (Record<string, unknown> | undefined)[] = new Array(d.length).fill(undefined);
  let chosen: ((r: Record<string, unknown>) => Record<string, unknown>) | undefined;
  const identity = (r: Record<string, unknown>) => r;
  const snake = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [toSnake(k), v]));
  for (let i = 0; i < d.length; i++) {
    const row = isNull?.(i) ? undefined : parseObject(get(i));
    if (!row) continue;
    let fn = chosen;
    if (!fn) {
      // as CloudQuery: keep the key mapping that matches most keys; re-choose until one matches all
      const a = keys.filter((k) => k in row).length;
      const s = snake(row);
      const b = keys.filter((k) => k in s).length;
      fn = b > a ? snake : identity;
      if (Math.max(a, b) === keys.length) chosen = fn;
    }
    out[i] = fn(row);
  }
  return out;
}

/** The jsonflattener as a message stage. `spec` must be valid (see parseJsonFlattenerSpec). */
export function jsonFlattener(spec: JsonFlattenerSpec, ctx: StageContext): MessageStage {
  const matchers = (spec.tables.length ? spec.tables : ['*']).map((p) => picomatch(p, { dot: true }));
  const matches = (name: string) => matchers.some((m) => m(name));
  const bySchema = new WeakMap<A.Schema, Plan>();
  const planFor = (table: string, input: A.Schema): Plan => {
    let plan = bySchema.get(input);
    if (!plan) {
      plan = matches(table) ? compilePlan(spec, ctx, table, input) : { input, out: input, columns: [] };
      bySchema.set(input, plan);
    }
    return plan;
  };

  return async function* jsonflattener(source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    for await (const msg of source) {
      if (msg.kind === 'migrate-table') {
        const plan = planFor(tableName(msg.table), msg.table);
        yield plan.out === msg.table ? msg : { kind: 'migrate-table', table: plan.out };
      } else if (msg.kind === 'insert') {
        const plan = planFor(msg.table, msg.batch.schema);
        if (!plan.columns.length) {
          yield msg;
          continue;
        }
        let batch: A.RecordBatch;
        try {
          const cols = [...(msg.batch.data.children as A.Data[])];
          for (const fc of plan.columns) {
            const rows = rowsOf(
              cols[fc.from]!,
              fc.keys.map((k) => k.key),
            );
            for (const k of fc.keys)
              cols.push(
                buildColumn(
                  k.type,
                  rows.map((r) => (r ? r[k.key] : undefined)),
                ),
              );
          }
          batch = batchFromColumns(plan.out, msg.batch.numRows, cols);
        } catch (err) {
          throw transformFailure(ctx, msg.table, err);
        }
        yield { kind: 'insert', table: msg.table, batch };
      } else {
        yield msg;
      }
    }
  };
}

/** The descriptor: `validate` is the whole config-load check (schema + type names, same messages as parseJsonFlattenerSpec). */
export const jsonflattener = defineTransformer<Record<string, unknown>>({
  name: 'jsonflattener',
  configSchema: jsonflattenerSpecSchema,
  validate: (spec) => parseJsonFlattenerSpec(spec).problems,
  create(spec, ctx) {
    const parsed = parseJsonFlattenerSpec(spec);
    if (!parsed.spec) throw specProblemsError(ctx, parsed.problems);
    return jsonFlattener(parsed.spec, ctx);
  },
});
