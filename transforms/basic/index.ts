/**
 * The `basic` transformer (CloudQuery's `plugins/transformer/basic`), as a descriptor:
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
 * Transformations run in list order (plan.ts); migrate-table schemas go through the same plan as
 * the rows, so every schema change reaches the destination as a migration. Batches are rewritten
 * column-wise: removed columns are dropped, renames and table renames only relabel (zero-copy),
 * added columns are built from constants, and only obfuscate / case / drop_rows touch values.
 * `delete-stale`, `rejected-rows`, `table-error` and `checkpoint` messages follow table renames, and
 * so does a `delete-record` — its table and its relations' tables and parents (as CloudQuery passes
 * its table name through the transformers); its predicates' columns are not renamed, as in
 * CloudQuery. One file per kind;
 * deviations from CloudQuery are listed in docs/transformers.md.
 */
import type * as A from 'apache-arrow';
import type { SyncMessage } from '../../lib/messages.js';
import { batchFromColumns, tableName } from '../../lib/schema.js';
import { defineTransformer, specProblemsError, transformFailure, type MessageStage } from '../../lib/transformer.js';
import { planner, type StageContext } from './plan.js';
import { basicSpecSchema, parseBasicSpec } from './spec.js';
import type { BasicSpec, Cols } from './transformation.js';

export { BASIC_KINDS, type BasicKind, type BasicSpec, type Transformation, type Cols, type Compiled } from './transformation.js';
export { basicSpecSchema, ajvSpecProblems, validateBasicSpec, parseBasicSpec } from './spec.js';
export { MD_SENSITIVE_COLUMNS, redactValue } from './redact.js';
export { splitPath, locate } from './json-path.js';
export type { StageContext } from './plan.js';

/** The basic transformer as a message stage. `spec` must be valid (see parseBasicSpec). */
export function basicTransformer(spec: BasicSpec, ctx: StageContext): MessageStage {
  const { planFor, renameOf } = planner(spec, ctx);
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
          let batch: A.RecordBatch;
          try {
            for (const run of plan.runs) {
              c = run(c);
              if (c.length === 0) break;
            }
            // a transformation may drop every row: zero-row batches are not sent (as in CloudQuery)
            if (c.length === 0) break;
            batch = batchFromColumns(plan.out, c.length, c.cols);
          } catch (err) {
            throw transformFailure(ctx, msg.table, err);
          }
          yield { kind: 'insert', table: tableName(plan.out), batch };
          break;
        }
        case 'delete-stale':
        case 'rejected-rows':
        case 'table-error': {
          const to = renameOf(msg.table);
          yield to === msg.table ? msg : { ...msg, table: to };
          break;
        }
        case 'delete-record': {
          const relations = msg.relations.map((r) => {
            const table = renameOf(r.table);
            const parent = renameOf(r.parent);
            return table === r.table && parent === r.parent ? r : { table, parent };
          });
          const to = renameOf(msg.table);
          yield to === msg.table && relations.every((r, i) => r === msg.relations[i]) ? msg : { ...msg, table: to, relations };
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

/** The descriptor: `validate` is the whole config-load check (schema + the kinds' checks, same messages as parseBasicSpec). */
export const basic = defineTransformer<Record<string, unknown>>({
  name: 'basic',
  configSchema: basicSpecSchema,
  validate: (spec) => parseBasicSpec(spec).problems,
  create(spec, ctx) {
    const parsed = parseBasicSpec(spec);
    if (!parsed.spec) throw specProblemsError(ctx, parsed.problems);
    return basicTransformer(parsed.spec, ctx);
  },
});
