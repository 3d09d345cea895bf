/** `rename_column`: a new name for one column (CloudQuery's `value`, or `new_name`); relabels only, zero-copy (docs/transformers.md). */
import * as A from 'apache-arrow';
import type { SpecProblem } from '../../lib/connector.js';
import { STR, type KindOp } from './transformation.js';

export const renameColumn: KindOp = {
  keys: { required: ['name'], properties: { name: STR, value: STR, new_name: STR } },
  check: (t, kp) => {
    const problems: SpecProblem[] = [];
    if (t.value === undefined && t.new_name === undefined) {
      problems.push({ keyPath: kp, message: 'rename_column needs the new column name in "value" (as in CloudQuery) or "new_name"' });
    }
    if (t.value !== undefined && t.new_name !== undefined && t.value !== t.new_name) {
      problems.push({ keyPath: [...kp, 'new_name'], message: '"value" and "new_name" disagree; give the new name once' });
    }
    return problems;
  },
  compile: (t, fail) => (schema) => {
    const to = (t.value ?? t.new_name) as string;
    const i = schema.fields.findIndex((f) => f.name === t.name);
    if (i < 0 || to === t.name) return { schema };
    if (schema.fields.some((f) => f.name === to)) fail(schema, `cannot rename ${t.name} to ${to}: the table already has a column ${to}`, 'value', to);
    const f = schema.fields[i]!;
    const fields = schema.fields.slice();
    fields[i] = new A.Field(to, f.type, f.nullable, f.metadata);
    return { schema: new A.Schema(fields, schema.metadata) };
  },
};
