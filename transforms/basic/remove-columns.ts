/** `remove_columns`: drop columns, or keys and array elements inside a json column by path (docs/transformers.md). */
import * as A from 'apache-arrow';
import { editJsonColumn, splitColumns } from './columns.js';
import { locate } from './json-path.js';
import { COLUMNS, type KindOp } from './transformation.js';

export const removeColumns: KindOp = {
  keys: { required: ['columns'], properties: { columns: COLUMNS } },
  compile: (t, fail) => (schema) => {
    const { plain, paths } = splitColumns(schema, t.columns!, fail);
    if (plain.size === schema.fields.length) fail(schema, 'cannot remove all columns', 'columns');
    const fields = schema.fields.filter((_, i) => !plain.has(i));
    const out = new A.Schema(fields, schema.metadata);
    const kept = schema.fields.map((_, i) => i).filter((i) => !plain.has(i));
    const edits = new Map(
      [...paths].map(([col, ps]) => [
        col,
        (d: A.Data) =>
          editJsonColumn(d, (root) => {
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
          }),
      ]),
    );
    if (plain.size === 0 && edits.size === 0) return { schema };
    return {
      schema: out,
      run: (c) => ({ length: c.length, cols: kept.map((i) => (edits.has(i) ? edits.get(i)!(c.cols[i]!) : c.cols[i]!)) }),
    };
  },
};
