/**
 * The `basic` transformer (SPEC §4 "Transformers"; reference §9.2; CloudQuery's
 * `plugins/transformer/basic`):
 *
 *   kind: transformer
 *   spec:
 *     name: redact
 *     path: basic
 *     spec:
 *       transformations:
 *         - { kind: remove_columns, tables: ["items"], columns: [secret, "doc.internal"] }
 *         - { kind: obfuscate_columns, tables: ["*"], columns: [email] }
 *         - { kind: change_table_names, tables: ["*"], new_table_name_template: "cq_{{.OldName}}" }
 *
 * Transformations run in list order; each matches tables by glob (`tables`, default ["*"])
 * against the table name *at that step*, so later steps see earlier renames (as in CloudQuery).
 * For each table shape the list is compiled once into a plan (output schema + column operations);
 * migrate-table schemas go through the same plan as the rows, so every schema change reaches the
 * destination as a migration. Batches are rewritten column-wise: removed columns are dropped,
 * renames and table renames only relabel (zero-copy), added columns are built from constants, and
 * only obfuscate / case / drop_rows touch values. `delete-stale` and `table-error` messages follow
 * table renames.
 *
 * Kinds: remove_columns, add_column, add_current_timestamp_column, obfuscate_columns,
 * obfuscate_sensitive_columns, rename_column, change_table_names, add_primary_keys, drop_rows,
 * uppercase, lowercase. Deviations from CloudQuery are listed in docs/transformers.md.
 */
import { createHash } from 'node:crypto';
import * as A from 'apache-arrow';
import picomatch from 'picomatch';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { SyncMessage } from '../lib/messages.js';
import type { SpecProblem } from '../lib/connector.js';
import type { Origin } from '../lib/config/types.js';
import { ConfigError } from '../lib/errors.js';
import { closest, didYouMean } from '../lib/config/suggest.js';
import { MD_PRIMARY_KEY, MD_TABLE_NAME, batchFromColumns, tableName, withFieldMetadata } from '../lib/schema.js';
import { extensionOf, fieldFor, parseColumnType, typeName } from '../lib/types.js';
import { constantTimestampData, constantUtf8Data, uuidFromString } from '../lib/arrow-build.js';
import { formatDecimal, dayToDateString } from '../lib/arrow-json.js';
import { toMicros } from '../lib/time.js';
import { bytesEqual, decoder, encoder, mapVarColumn, nullTest, takeRows, varBytes } from './arrow-ops.js';

// ---- spec ---------------------------------------------------------------------------------------

export const BASIC_KINDS = [
  'remove_columns', 'add_column', 'add_current_timestamp_column', 'obfuscate_columns', 'obfuscate_sensitive_columns',
  'rename_column', 'change_table_names', 'add_primary_keys', 'drop_rows', 'uppercase', 'lowercase',
] as const;
export type BasicKind = typeof BASIC_KINDS[number];

/** CloudQuery kinds cq-pipe knows of but does not run (a clear error instead of "unknown"). */
const NOT_SUPPORTED: Record<string, string> = {
  obfuscate_columns_except: 'use obfuscate_columns (or remove_columns) with an explicit list of columns',
  remove_columns_except: 'use remove_columns with an explicit list of columns',
};

const STR = { type: 'string', minLength: 1 } as const;
const COLUMNS = { type: 'array', items: STR, minItems: 1 } as const;
const SCALAR = { type: ['string', 'number', 'boolean'] } as const;
const INCLUDE_SHA = { type: 'boolean', default: true } as const;

const KIND_KEYS: Record<BasicKind, { required: string[]; properties: Record<string, object> }> = {
  remove_columns: { required: ['columns'], properties: { columns: COLUMNS } },
  add_column: { required: ['name', 'value'], properties: { name: STR, value: SCALAR } },
  add_current_timestamp_column: { required: ['name'], properties: { name: STR } },
  obfuscate_columns: { required: ['columns'], properties: { columns: COLUMNS, include_sha: INCLUDE_SHA } },
  obfuscate_sensitive_columns: { required: [], properties: { include_sha: INCLUDE_SHA } },
  rename_column: { required: ['name'], properties: { name: STR, value: STR, new_name: STR } },
  change_table_names: { required: ['new_table_name_template'], properties: { new_table_name_template: STR } },
  add_primary_keys: { required: ['columns'], properties: { columns: COLUMNS } },
  drop_rows: { required: ['columns'], properties: { columns: COLUMNS, value: { type: ['string', 'number', 'boolean', 'null'] } } },
  uppercase: { required: ['columns'], properties: { columns: COLUMNS } },
  lowercase: { required: ['columns'], properties: { columns: COLUMNS } },
};

/**
 * JSON schema (draft-07) of the `basic` transformer's spec. Unknown keys are rejected per kind.
 * Checks a schema cannot express (rename_column's new name, the table-name template) are in
 * `validateBasicSpec`.
 */
export const basicSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['transformations'],
  properties: {
    transformations: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind'],
        properties: { kind: { type: 'string', enum: [...BASIC_KINDS] } },
        allOf: BASIC_KINDS.map((k) => ({
          if: { properties: { kind: { const: k } }, required: ['kind'] },
          then: {
            type: 'object',
            additionalProperties: false,
            required: KIND_KEYS[k].required,
            properties: { kind: {}, tables: { type: 'array', items: STR, default: ['*'] }, ...KIND_KEYS[k].properties },
          },
        })),
      },
    },
  },
} as const;

export interface Transformation {
  kind: BasicKind;
  tables: string[];
  columns?: string[];
  name?: string;
  value?: string | number | boolean | null;
  new_name?: string;
  new_table_name_template?: string;
  include_sha?: boolean;
}

export interface BasicSpec {
  transformations: Transformation[];
}

// compiled on first use: a process that never validates this transformer pays nothing at start-up
let compiled: ValidateFunction | undefined;
const validateSchema = (): ValidateFunction => (compiled ??= new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false }).compile(basicSpecSchema));

type KeyPath = (string | number)[];

function pointer(p: string): KeyPath {
  if (!p) return [];
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** ajv errors → problems (key paths relative to the transformer's `spec`). */
export function ajvSpecProblems(errors: ErrorObject[], prefix: KeyPath = ['spec']): SpecProblem[] {
  const out: SpecProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'if') continue;
    let kp: KeyPath = [...prefix, ...pointer(e.instancePath)];
    let message: string;
    let hint: string | undefined;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        kp = [...kp, key];
        const known = Object.keys(((e.parentSchema ?? {}) as { properties?: object }).properties ?? {});
        const near = closest(key, known);
        message = `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`;
        hint = known.length ? `allowed keys here: ${known.join(', ')}` : undefined;
        break;
      }
      case 'required':
        message = `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
        break;
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
        if (kp[kp.length - 1] === 'kind' && typeof e.data === 'string') {
          const unsupported = NOT_SUPPORTED[e.data];
          message = unsupported
            ? `transformation kind "${e.data}" is not supported by cq-pipe`
            : `unknown transformation kind "${e.data}"${didYouMean(e.data, allowed)}`;
          hint = unsupported ?? `kinds: ${allowed.join(', ')}`;
        } else {
          message = `${JSON.stringify(e.data)} is not one of ${allowed.join(', ')}${typeof e.data === 'string' ? didYouMean(e.data, allowed) : ''}`;
        }
        break;
      }
      case 'type':
        message = `must be ${(e.params as { type: string }).type}, got ${Array.isArray(e.data) ? 'array' : e.data === null ? 'null' : typeof e.data}`;
        break;
      case 'minItems':
        message = 'must not be empty';
        break;
      default:
        message = e.message ?? `invalid (${e.keyword})`;
    }
    const dedupe = `${kp.join('.')}|${message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    out.push({ keyPath: kp, message, ...(hint ? { hint } : {}) });
  }
  return out;
}

const TEMPLATE_ACTION = /\{\{(.*?)\}\}/g;

/** Problems in a `basic` spec (empty when valid); key paths are relative to the document's `spec`. */
export function validateBasicSpec(spec: unknown): SpecProblem[] {
  return parseBasicSpec(spec).problems;
}

/** Validate and normalize (defaults applied, on a copy). */
export function parseBasicSpec(spec: unknown): { spec?: BasicSpec; problems: SpecProblem[] } {
  const copy = structuredClone(spec ?? {}) as BasicSpec;
  const validate = validateSchema();
  if (!validate(copy)) return { problems: ajvSpecProblems(validate.errors ?? []) };
  const problems: SpecProblem[] = [];
  copy.transformations.forEach((t, i) => {
    const kp = ['spec', 'transformations', i];
    if (t.kind === 'rename_column') {
      if (t.value === undefined && t.new_name === undefined) problems.push({ keyPath: kp, message: 'rename_column needs the new column name in "value" (as in CloudQuery) or "new_name"' });
      if (t.value !== undefined && t.new_name !== undefined && t.value !== t.new_name) problems.push({ keyPath: [...kp, 'new_name'], message: '"value" and "new_name" disagree; give the new name once' });
    }
    if (t.kind === 'add_column' && t.value === '') problems.push({ keyPath: [...kp, 'value'], message: 'must not be empty (as in CloudQuery)' });
    if (t.kind === 'change_table_names') {
      for (const m of t.new_table_name_template!.matchAll(TEMPLATE_ACTION)) {
        if (m[1]!.trim() !== '.OldName') {
          problems.push({ keyPath: [...kp, 'new_table_name_template'], message: `unsupported template action "{{${m[1]}}}"`, hint: 'the only variable is {{.OldName}}, the table name before this step' });
        }
      }
      if (renderTemplate(t.new_table_name_template!, 'x') === '') problems.push({ keyPath: [...kp, 'new_table_name_template'], message: 'renders an empty table name' });
    }
  });
  return problems.length ? { problems } : { spec: copy, problems };
}

function renderTemplate(template: string, oldName: string): string {
  return template.replace(TEMPLATE_ACTION, () => oldName);
}

// ---- plans --------------------------------------------------------------------------------------

/** What a plan step does to the columns of a batch (`length` rows). */
export interface Cols {
  cols: A.Data[];
  length: number;
}

export interface Compiled {
  schema: A.Schema;
  /** column operation; absent when only the schema (names, metadata) changes */
  run?: (c: Cols) => Cols;
}

export interface StageContext {
  /** transformer name (for errors) */
  name: string;
  origin?: Origin;
}

/** An async-generator stage over sync messages (what stream.pipeline accepts). */
export type MessageStage = (source: AsyncIterable<SyncMessage>) => AsyncGenerator<SyncMessage>;

interface Plan {
  input: A.Schema;
  out: A.Schema;
  runs: ((c: Cols) => Cols)[];
}

const REDACTED = 'Redacted by CloudQuery';
const REDACTED_PREFIX = 'Redacted by CloudQuery | ';
const REDACTED_JSON_KEY = 'redacted_by_cloudquery';
export const MD_SENSITIVE_COLUMNS = 'cq:table_sensitive_columns';

function sha256hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** CloudQuery's redaction marker for a raw value. */
export function redactValue(raw: Uint8Array | string, includeSha: boolean): string {
  return includeSha ? REDACTED_PREFIX + sha256hex(raw) : REDACTED;
}

/** Split a gjson-style path on unescaped dots (`a.b\.c.0` → a, b.c, 0). */
export function splitPath(p: string): string[] {
  const segs: string[] = [];
  let cur = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\' && i + 1 < p.length) {
      cur += p[++i];
    } else if (c === '.') {
      segs.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  segs.push(cur);
  return segs;
}

type Loc = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** Every location a path names in a parsed JSON value (`#` = every array element). */
export function locate(root: unknown, segs: string[]): Loc[] {
  const out: Loc[] = [];
  const walk = (node: unknown, i: number): void => {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (Array.isArray(node)) {
      const visit = (k: number) => (last ? out.push({ parent: node, key: k }) : walk(node[k], i + 1));
      if (seg === '#') for (let k = 0; k < node.length; k++) visit(k);
      else if (/^\d+$/.test(seg) && Number(seg) < node.length) visit(Number(seg));
    } else if (node !== null && typeof node === 'object' && Object.prototype.hasOwnProperty.call(node, seg)) {
      if (last) out.push({ parent: node as Record<string, unknown>, key: seg });
      else walk((node as Record<string, unknown>)[seg], i + 1);
    }
  };
  walk(root, 0);
  return out;
}

function getAt(l: Loc): unknown {
  return (l.parent as Record<string | number, unknown>)[l.key];
}
function setAt(l: Loc, v: unknown): void {
  (l.parent as Record<string | number, unknown>)[l.key] = v;
}

/** Apply `edit` to each JSON value of a json column; rows it leaves untouched keep their bytes. */
function editJsonColumn(d: A.Data, edit: (root: unknown) => boolean): A.Data {
  return mapVarColumn(d, (bytes) => {
    let root: unknown;
    try {
      root = JSON.parse(decoder.decode(bytes));
    } catch {
      return bytes; // not JSON: left as is (CloudQuery leaves invalid JSON untouched too)
    }
    return edit(root) ? encoder.encode(JSON.stringify(root)) : bytes;
  });
}

function isJsonField(f: A.Field): boolean {
  return extensionOf(f) === 'json';
}
function isStringField(f: A.Field): boolean {
  return (f.typeId === A.Type.Utf8 || f.typeId === A.Type.LargeUtf8) && !extensionOf(f);
}

/** Build the plan compiler of one transformation. */
function compiler(t: Transformation, index: number, ctx: StageContext): (schema: A.Schema) => Compiled {
  const where = (table: string, key?: string, column?: string) => ({
    connector: `transformer ${ctx.name}`,
    table,
    ...(column ? { column } : {}),
    ...(ctx.origin ? { file: ctx.origin.file, document: ctx.origin.document } : {}),
    keyPath: `spec.spec.transformations[${index}]${key ? `.${key}` : ''}`,
  });
  const fail = (schema: A.Schema, message: string, key?: string, column?: string, hint?: string): never => {
    throw new ConfigError(`transformer ${ctx.name}: ${t.kind} on table ${tableName(schema)}: ${message}`, where(tableName(schema), key, column), hint);
  };
  /** plain columns present in the schema, and json sub-paths (col → paths) */
  const split = (schema: A.Schema, names: string[]) => {
    const byName = new Map(schema.fields.map((f, i) => [f.name, i]));
    const plain = new Set<number>();
    const paths = new Map<number, string[][]>();
    for (const n of names) {
      if (byName.has(n)) {
        plain.add(byName.get(n)!);
        continue;
      }
      const dot = n.indexOf('.');
      if (dot < 0) continue; // a column this table does not have: skipped, as in CloudQuery
      const col = byName.get(n.slice(0, dot));
      if (col === undefined) continue;
      if (!isJsonField(schema.fields[col]!)) fail(schema, `column ${schema.fields[col]!.name} is not a JSON column, so "${n}" names no JSON path`, 'columns', schema.fields[col]!.name);
      if (!paths.has(col)) paths.set(col, []);
      paths.get(col)!.push(splitPath(n.slice(dot + 1)));
    }
    for (const c of plain) paths.delete(c);
    return { plain, paths };
  };
  const replaceCols = (schema: A.Schema, ops: Map<number, (d: A.Data) => A.Data>): Compiled => (
    ops.size === 0 ? { schema } : {
      schema,
      run: (c) => ({ length: c.length, cols: c.cols.map((d, i) => (ops.has(i) ? ops.get(i)!(d) : d)) }),
    }
  );

  switch (t.kind) {
    case 'remove_columns':
      return (schema) => {
        const { plain, paths } = split(schema, t.columns!);
        if (plain.size === schema.fields.length) fail(schema, 'cannot remove all columns', 'columns');
        const fields = schema.fields.filter((_, i) => !plain.has(i));
        const out = new A.Schema(fields, schema.metadata);
        const kept = schema.fields.map((_, i) => i).filter((i) => !plain.has(i));
        const edits = new Map([...paths].map(([col, ps]) => [col, (d: A.Data) => editJsonColumn(d, (root) => {
          let changed = false;
          for (const p of ps) {
            const locs = locate(root, p);
            for (let k = locs.length - 1; k >= 0; k--) {
              const l = locs[k]!;
              if (Array.isArray(l.parent)) l.parent.splice(l.key as number, 1);
              else delete (l.parent as Record<string, unknown>)[l.key as string];
              changed = true;
            }
          }
          return changed;
        })]));
        if (plain.size === 0 && edits.size === 0) return { schema };
        return {
          schema: out,
          run: (c) => ({ length: c.length, cols: kept.map((i) => (edits.has(i) ? edits.get(i)!(c.cols[i]!) : c.cols[i]!)) }),
        };
      };
    case 'add_column':
      return (schema) => {
        if (schema.fields.some((f) => f.name === t.name)) fail(schema, `column ${t.name} already exists`, 'name', t.name);
        const value = String(t.value);
        // CloudQuery adds a non-nullable utf8 column with no column metadata
        const out = new A.Schema([...schema.fields, new A.Field(t.name!, new A.Utf8(), false)], schema.metadata);
        return { schema: out, run: (c) => ({ length: c.length, cols: [...c.cols, constantUtf8Data(value, c.length)] }) };
      };
    case 'add_current_timestamp_column':
      return (schema) => {
        if (schema.fields.some((f) => f.name === t.name)) fail(schema, `column ${t.name} already exists`, 'name', t.name);
        const out = new A.Schema([...schema.fields, fieldFor(t.name!, parseColumnType('timestamp'), true)], schema.metadata);
        return { schema: out, run: (c) => ({ length: c.length, cols: [...c.cols, constantTimestampData(BigInt(Date.now()) * 1000n, c.length)] }) };
      };
    case 'obfuscate_columns':
    case 'obfuscate_sensitive_columns':
      return (schema) => {
        let names = t.columns ?? [];
        if (t.kind === 'obfuscate_sensitive_columns') {
          const raw = schema.metadata.get(MD_SENSITIVE_COLUMNS);
          if (!raw) return { schema };
          try {
            names = JSON.parse(raw) as string[];
          } catch {
            fail(schema, `table metadata ${MD_SENSITIVE_COLUMNS} is not a JSON array of column names`);
          }
          if (!Array.isArray(names) || names.length === 0) return { schema };
        }
        const includeSha = t.include_sha !== false;
        const { plain, paths } = split(schema, names);
        const ops = new Map<number, (d: A.Data) => A.Data>();
        for (const i of plain) {
          const f = schema.fields[i]!;
          if (isStringField(f) || (f.typeId === A.Type.Binary && !extensionOf(f)) || f.typeId === A.Type.LargeBinary) {
            const markerFixed = includeSha ? undefined : encoder.encode(REDACTED);
            ops.set(i, (d) => mapVarColumn(d, (bytes) => markerFixed ?? encoder.encode(redactValue(bytes, true))));
          } else if (isJsonField(f)) {
            ops.set(i, (d) => mapVarColumn(d, (bytes) => encoder.encode(JSON.stringify({ [REDACTED_JSON_KEY]: includeSha ? sha256hex(bytes) : REDACTED }))));
          } else {
            fail(schema, `column ${f.name} is ${typeName(f)}, not a string, binary or JSON column`, 'columns', f.name);
          }
        }
        for (const [i, ps] of paths) {
          ops.set(i, (d) => editJsonColumn(d, (root) => {
            let changed = false;
            for (const p of ps) {
              const locs = locate(root, p);
              if (!locs.length) continue;
              // as CloudQuery: one marker for everything a path matches (`#` paths hash the array of matches)
              const raw = locs.length === 1 && !p.includes('#') ? JSON.stringify(getAt(locs[0]!)) : JSON.stringify(locs.map(getAt));
              const marker = redactValue(raw, includeSha);
              for (const l of locs) setAt(l, marker);
              changed = true;
            }
            return changed;
          }));
        }
        return replaceCols(schema, ops);
      };
    case 'rename_column':
      return (schema) => {
        const to = (t.value ?? t.new_name) as string;
        const i = schema.fields.findIndex((f) => f.name === t.name);
        if (i < 0 || to === t.name) return { schema };
        if (schema.fields.some((f) => f.name === to)) fail(schema, `cannot rename ${t.name} to ${to}: the table already has a column ${to}`, 'value', to);
        const f = schema.fields[i]!;
        const fields = schema.fields.slice();
        fields[i] = new A.Field(to, f.type, f.nullable, f.metadata);
        return { schema: new A.Schema(fields, schema.metadata) };
      };
    case 'change_table_names':
      return (schema) => {
        const md = new Map(schema.metadata);
        md.set(MD_TABLE_NAME, renderTemplate(t.new_table_name_template!, tableName(schema)));
        return { schema: new A.Schema(schema.fields, md) };
      };
    case 'add_primary_keys':
      return (schema) => {
        const names = new Set(schema.fields.map((f) => f.name));
        for (const c of t.columns!) if (!names.has(c)) fail(schema, `column ${c} not found${didYouMean(c, [...names])}`, 'columns', c);
        const want = new Set(t.columns);
        return { schema: new A.Schema(schema.fields.map((f) => (want.has(f.name) ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'true' }) : f)), schema.metadata) };
      };
    case 'uppercase':
    case 'lowercase':
      return (schema) => {
        const upper = t.kind === 'uppercase';
        const { plain, paths } = split(schema, t.columns!);
        const caseString = (s: string) => (upper ? s.toUpperCase() : s.toLowerCase());
        /** every string value of a JSON document (object keys are kept) */
        const caseAll = (node: unknown): unknown => {
          if (typeof node === 'string') return caseString(node);
          if (Array.isArray(node)) return node.map(caseAll);
          if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, caseAll(v)]));
          return node;
        };
        const ops = new Map<number, (d: A.Data) => A.Data>();
        for (const i of plain) {
          const f = schema.fields[i]!;
          if (isStringField(f)) ops.set(i, (d) => mapVarColumn(d, (bytes) => changeCase(bytes, upper)));
          else if (isJsonField(f)) {
            ops.set(i, (d) => mapVarColumn(d, (bytes) => {
              try {
                return encoder.encode(JSON.stringify(caseAll(JSON.parse(decoder.decode(bytes)))));
              } catch {
                return bytes;
              }
            }));
          } else fail(schema, `column ${f.name} is ${typeName(f)}, not a string or JSON column`, 'columns', f.name);
        }
        for (const [i, ps] of paths) {
          ops.set(i, (d) => editJsonColumn(d, (root) => {
            let changed = false;
            for (const p of ps) {
              for (const l of locate(root, p)) {
                const v = getAt(l);
                if (typeof v === 'string' && caseString(v) !== v) { setAt(l, caseString(v)); changed = true; }
              }
            }
            return changed;
          }));
        }
        return replaceCols(schema, ops);
      };
    case 'drop_rows':
      return (schema) => {
        const byName = new Map(schema.fields.map((f, i) => [f.name, i]));
        const cols = t.columns!.filter((c) => byName.has(c)).map((c) => byName.get(c)!);
        if (!cols.length) return { schema };
        const value = t.value === undefined || t.value === null ? null : String(t.value);
        const matchers = cols.map((i) => {
          const f = schema.fields[i]!;
          if (f.typeId === A.Type.List || f.typeId === A.Type.LargeList || f.typeId === A.Type.FixedSizeList || f.typeId === A.Type.Map) {
            fail(schema, `column ${f.name} is ${typeName(f)}: drop_rows matches only non-list columns (as in CloudQuery)`, 'columns', f.name);
          }
          return { i, match: rowMatcher(f, value) };
        });
        return {
          schema,
          run: (c) => {
            const keep = new Uint8Array(c.length).fill(1);
            for (const m of matchers) m.match(c.cols[m.i]!, keep);
            return takeRows(c.cols, c.length, keep);
          },
        };
      };
  }
}

/** Upper/lower-case UTF-8 bytes: a byte loop for ASCII, String case mapping otherwise. */
function changeCase(bytes: Uint8Array, upper: boolean): Uint8Array {
  let ascii = true;
  let changes = false;
  for (let k = 0; k < bytes.length; k++) {
    const b = bytes[k]!;
    if (b >= 0x80) { ascii = false; break; }
    if (upper ? b >= 0x61 && b <= 0x7a : b >= 0x41 && b <= 0x5a) changes = true;
  }
  if (ascii) {
    if (!changes) return bytes;
    const out = new Uint8Array(bytes.length);
    for (let k = 0; k < bytes.length; k++) {
      const b = bytes[k]!;
      out[k] = upper ? (b >= 0x61 && b <= 0x7a ? b - 32 : b) : (b >= 0x41 && b <= 0x5a ? b + 32 : b);
    }
    return out;
  }
  const s = decoder.decode(bytes);
  return encoder.encode(upper ? s.toUpperCase() : s.toLowerCase());
}

// ---- drop_rows matching -------------------------------------------------------------------------

/**
 * A function clearing keep[i] for rows whose value in this column "equals" `value`
 * (CloudQuery: `column.ValueStr(i) == value`; `value` null/omitted matches nulls). The value is
 * parsed once into the column's type and compared typed, so CloudQuery's string forms match
 * (`2023`, `true`, `1e+06`, `2024-01-02 03:04:05Z`) and so do equivalent spellings.
 */
function rowMatcher(f: A.Field, value: string | null): (d: A.Data, keep: Uint8Array) => void {
  if (value === null) {
    return (d, keep) => {
      const isNull = nullTest(d);
      if (!isNull) return;
      for (let i = 0; i < d.length; i++) if (isNull(i)) keep[i] = 0;
    };
  }
  const never = () => {};
  /** run `eq(i)` over the non-null rows */
  const overValid = (eq: (d: A.Data) => (i: number) => boolean) => (d: A.Data, keep: Uint8Array) => {
    const isNull = nullTest(d);
    const test = eq(d);
    for (let i = 0; i < d.length; i++) if (!isNull?.(i) && test(i)) keep[i] = 0;
  };
  const ext = extensionOf(f);
  const t = f.type;
  const bytesEq = (target: Uint8Array) => overValid((d) => {
    const get = varBytes(d);
    return (i) => bytesEqual(get(i), target);
  });
  if (ext === 'json') {
    let compact: string;
    try {
      compact = JSON.stringify(JSON.parse(value));
    } catch {
      compact = value;
    }
    const target = encoder.encode(compact);
    return overValid((d) => {
      const get = varBytes(d);
      return (i) => {
        const b = get(i);
        if (bytesEqual(b, target)) return true;
        if (!b.some((x) => x === 0x20 || x === 0x0a || x === 0x09 || x === 0x0d)) return false;
        try {
          return JSON.stringify(JSON.parse(decoder.decode(b))) === compact;
        } catch {
          return false;
        }
      };
    });
  }
  if (ext === 'uuid') {
    const target = uuidFromString(value.trim());
    if (!target) return never;
    return overValid((d) => {
      const v = d.values as Uint8Array;
      return (i) => {
        for (let k = 0; k < 16; k++) if (v[i * 16 + k] !== target[k]) return false;
        return true;
      };
    });
  }
  switch (t.typeId) {
    case A.Type.Utf8:
    case A.Type.LargeUtf8:
      return bytesEq(encoder.encode(value));
    case A.Type.Binary:
    case A.Type.LargeBinary:
      // inet is stored as its text; plain binary compares with Go's ValueStr, base64
      return bytesEq(ext === 'inet' ? encoder.encode(value) : new Uint8Array(Buffer.from(value, 'base64')));
    case A.Type.Bool: {
      if (value !== 'true' && value !== 'false') return never;
      const want = value === 'true' ? 1 : 0;
      return overValid((d) => {
        const v = d.values as Uint8Array;
        return (i) => ((v[(d.offset + i) >> 3]! >> ((d.offset + i) & 7)) & 1) === want;
      });
    }
    case A.Type.Int: {
      if (!/^[+-]?\d+$/.test(value.trim())) return never;
      const big = BigInt(value.trim());
      if ((t as A.Int).bitWidth === 64) return overValid((d) => { const v = d.values as BigInt64Array; return (i) => v[i] === big; });
      const num = Number(big);
      return overValid((d) => { const v = d.values as Int32Array; return (i) => v[i] === num; });
    }
    case A.Type.Float: {
      if ((t as A.Float).precision === A.Precision.HALF) break;
      const single = (t as A.Float).precision === A.Precision.SINGLE;
      const s = value.trim();
      const num = s === '+Inf' || s === 'Inf' ? Infinity : s === '-Inf' ? -Infinity : s === 'NaN' ? NaN : s === '' ? NaN : Number(s);
      if (Number.isNaN(num) && s !== 'NaN') return never;
      const want = single ? Math.fround(num) : num;
      return overValid((d) => { const v = d.values as Float64Array; return Number.isNaN(want) ? (i) => Number.isNaN(v[i]!) : (i) => v[i] === want; });
    }
    case A.Type.Timestamp: {
      let us: bigint;
      try {
        us = toMicros(value);
      } catch {
        return never;
      }
      const unit = (t as A.Timestamp).unit;
      const target = unit === A.TimeUnit.SECOND ? us / 1_000_000n : unit === A.TimeUnit.MILLISECOND ? us / 1000n : unit === A.TimeUnit.MICROSECOND ? us : us * 1000n;
      return overValid((d) => { const v = d.values as BigInt64Array; return (i) => v[i] === target; });
    }
    case A.Type.Date:
      return overValid((d) => {
        const v = d.values as Int32Array | BigInt64Array;
        const day = (t as A.Date_).unit === A.DateUnit.DAY;
        return (i) => dayToDateString(day ? Number(v[i]!) : Math.floor(Number(v[i]!) / 86_400_000)) === value;
      });
    case A.Type.Decimal: {
      const dt = t as A.Decimal;
      const words = dt.bitWidth / 32;
      return overValid((d) => {
        const w = d.values as Uint32Array;
        return (i) => {
          let v = 0n;
          for (let k = words - 1; k >= 0; k--) v = (v << 32n) | BigInt(w[i * words + k]!);
          return formatDecimal(BigInt.asIntN(dt.bitWidth, v), dt.scale) === value;
        };
      });
    }
    default:
      break;
  }
  // time, struct, fixed-size binary, …: compare a generic rendering (rare in drop_rows)
  return overValid((d) => {
    const vec = A.makeVector(d);
    return (i) => {
      const x = vec.get(i) as unknown;
      const s = x !== null && typeof x === 'object' && 'toJSON' in (x as object) ? JSON.stringify((x as { toJSON(): unknown }).toJSON()) : String(x);
      return s === value;
    };
  });
}

// ---- the stage ----------------------------------------------------------------------------------

function sameFields(a: A.Schema, b: A.Schema): boolean {
  if (a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!, y = b.fields[i]!;
    if (x.name !== y.name || x.typeId !== y.typeId || x.nullable !== y.nullable || x.metadata.size !== y.metadata.size) return false;
    for (const [k, v] of x.metadata) if (y.metadata.get(k) !== v) return false;
  }
  if (a.metadata.size !== b.metadata.size) return false;
  for (const [k, v] of a.metadata) if (b.metadata.get(k) !== v) return false;
  return true;
}

/** The basic transformer as a message stage. `spec` must be valid (see parseBasicSpec). */
export function basicTransformer(spec: BasicSpec, ctx: StageContext): MessageStage {
  const steps = spec.transformations.map((t, i) => ({
    t,
    match: (() => {
      const ms = (t.tables.length ? t.tables : ['*']).map((p) => picomatch(p, { dot: true }));
      return (name: string) => ms.some((m) => m(name));
    })(),
    compile: compiler(t, i, ctx),
  }));
  const byName = new Map<string, Plan>();
  const bySchema = new WeakMap<A.Schema, Plan>();
  const renamed = new Map<string, string>();

  const planFor = (table: string, input: A.Schema): Plan => {
    const hit = bySchema.get(input);
    if (hit) return hit;
    const prev = byName.get(table);
    if (prev && sameFields(prev.input, input)) {
      bySchema.set(input, prev);
      return prev;
    }
    let schema = input.metadata.get(MD_TABLE_NAME) === table ? input : new A.Schema(input.fields, new Map([...input.metadata, [MD_TABLE_NAME, table]]));
    const runs: ((c: Cols) => Cols)[] = [];
    for (const s of steps) {
      if (!s.match(tableName(schema))) continue;
      const c = s.compile(schema);
      schema = c.schema;
      if (c.run) runs.push(c.run);
    }
    const plan = { input, out: schema, runs };
    byName.set(table, plan);
    bySchema.set(input, plan);
    return plan;
  };
  /** a table's name after the transformations (what delete-stale and table errors follow) */
  const renameOf = (table: string): string => {
    let out = renamed.get(table);
    if (out === undefined) {
      out = table;
      for (const s of steps) {
        if (s.t.kind === 'change_table_names' && s.match(out)) out = renderTemplate(s.t.new_table_name_template!, out);
      }
      renamed.set(table, out);
    }
    return out;
  };

  return async function* basic(source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    for await (const msg of source) {
      switch (msg.kind) {
        case 'migrate-table': {
          const plan = planFor(tableName(msg.table), msg.table);
          yield plan.out === msg.table ? msg : { kind: 'migrate-table', table: plan.out };
          break;
        }
        case 'insert': {
          const plan = planFor(msg.table, msg.batch.schema);
          if (plan.out === msg.batch.schema) {
            yield msg;
            break;
          }
          let c: Cols = { cols: msg.batch.data.children as A.Data[], length: msg.batch.numRows };
          for (const run of plan.runs) {
            c = run(c);
            if (c.length === 0) break;
          }
          // a transformation may drop every row: zero-row batches are not sent (as in CloudQuery)
          if (c.length === 0) break;
          yield { kind: 'insert', table: tableName(plan.out), batch: batchFromColumns(plan.out, c.length, c.cols) };
          break;
        }
        case 'delete-stale':
        case 'table-error': {
          const to = renameOf(msg.table);
          yield to === msg.table ? msg : { ...msg, table: to };
          break;
        }
        case 'checkpoint': {
          // the table a checkpoint saves follows its renames (a destination that fails it refuses the checkpoint)
          const to = msg.table === undefined ? undefined : renameOf(msg.table);
          yield to === msg.table ? msg : { ...msg, table: to };
          break;
        }
        default:
          yield msg;
      }
    }
  };
}
