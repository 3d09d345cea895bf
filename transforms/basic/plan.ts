/**
 * Plans of the `basic` transformer: for each table shape the transformation list is compiled once
 * into a plan (output schema + column operations), each step dispatched to its kind (kinds.ts).
 * Steps match tables by glob against the table name at that step, so later steps see earlier
 * renames, as in CloudQuery (docs/transformers.md).
 */
import * as A from 'apache-arrow';
import picomatch from 'picomatch';
import type { TransformerOrigin } from '../../lib/transformer.js';
import { ConfigError } from '../../lib/errors.js';
import { MD_TABLE_NAME, tableName } from '../../lib/schema.js';
import { KINDS } from './kinds.js';
import type { BasicSpec, Cols, Fail, Transformation } from './transformation.js';

export interface StageContext {
  /** transformer name (for errors) */
  name: string;
  origin?: Pick<TransformerOrigin, 'file' | 'document'>;
}

export interface Plan {
  input: A.Schema;
  out: A.Schema;
  runs: ((c: Cols) => Cols)[];
}

/** The ConfigError of transformation `index` not fitting a table, naming transformer, kind, table and key. */
function failFor(t: Transformation, index: number, ctx: StageContext): Fail {
  const where = (table: string, key?: string, column?: string) => ({
    connector: `transformer ${ctx.name}`,
    table,
    ...(column ? { column } : {}),
    ...(ctx.origin ? { file: ctx.origin.file, document: ctx.origin.document } : {}),
    keyPath: `spec.spec.transformations[${index}]${key ? `.${key}` : ''}`,
  });
  return (schema, message, key, column, hint) => {
    throw new ConfigError(`transformer ${ctx.name}: ${t.kind} on table ${tableName(schema)}: ${message}`, where(tableName(schema), key, column), hint);
  };
}

function sameFields(a: A.Schema, b: A.Schema): boolean {
  if (a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!,
      y = b.fields[i]!;
    if (x.name !== y.name || x.typeId !== y.typeId || x.nullable !== y.nullable || x.metadata.size !== y.metadata.size) return false;
    for (const [k, v] of x.metadata) if (y.metadata.get(k) !== v) return false;
  }
  if (a.metadata.size !== b.metadata.size) return false;
  for (const [k, v] of a.metadata) if (b.metadata.get(k) !== v) return false;
  return true;
}

export interface Planner {
  /** the plan of a table shape (cached by schema object, and by table name for an equal shape) */
  planFor(table: string, input: A.Schema): Plan;
  /** a table's name after the transformations (what delete-stale, table errors and checkpoints follow) */
  renameOf(table: string): string;
}

/** The planner of one transformer instance (per destination: plans and renames are its state). `spec` must be valid. */
export function planner(spec: BasicSpec, ctx: StageContext): Planner {
  const steps = spec.transformations.map((t, i) => ({
    t,
    match: (() => {
      const ms = (t.tables.length ? t.tables : ['*']).map((p) => picomatch(p, { dot: true }));
      return (name: string) => ms.some((m) => m(name));
    })(),
    compile: KINDS[t.kind].compile(t, failFor(t, i, ctx)),
    renameTable: KINDS[t.kind].renameTable,
  }));
  const byName = new Map<string, Plan>();
  const bySchema = new WeakMap<A.Schema, Plan>();
  const renamed = new Map<string, string>();
  // output table name → the input table that has it: two inputs may not share one output
  const claimed = new Map<string, string>();
  const renameIndex = spec.transformations.findIndex((t) => t.kind === 'change_table_names');
  const claim = (input: string, output: string): void => {
    const prior = claimed.get(output);
    if (prior === undefined) claimed.set(output, input);
    else if (prior !== input) {
      const [a, b] = [prior, input].sort();
      throw new ConfigError(
        `transformer ${ctx.name}: change_table_names maps tables ${a} and ${b} to one table ${output}: their rows would be merged`,
        {
          connector: `transformer ${ctx.name}`,
          table: output,
          ...(ctx.origin ? { file: ctx.origin.file, document: ctx.origin.document } : {}),
          keyPath: `spec.spec.transformations[${renameIndex}].new_table_name_template`,
        },
        'use {{.OldName}} in new_table_name_template, or narrow its tables to one',
      );
    }
  };

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
    if (renameIndex >= 0) claim(table, tableName(schema));
    byName.set(table, plan);
    bySchema.set(input, plan);
    return plan;
  };
  const renameOf = (table: string): string => {
    let out = renamed.get(table);
    if (out === undefined) {
      out = table;
      for (const s of steps) {
        if (s.renameTable && s.match(out)) out = s.renameTable(s.t, out);
      }
      renamed.set(table, out);
    }
    return out;
  };
  return { planFor, renameOf };
}
