/** `add_column`: a constant, non-nullable utf8 column appended to the table (docs/transformers.md). */
import * as A from 'apache-arrow';
import { constantUtf8Data } from '../../lib/arrow/index.js';
import { SCALAR, STR, type KindOp } from './transformation.js';

export const addColumn: KindOp = {
  keys: { required: ['name', 'value'], properties: { name: STR, value: SCALAR } },
  check: (t, kp) => (t.value === '' ? [{ keyPath: [...kp, 'value'], message: 'must not be empty (as in CloudQuery)' }] : []),
  compile: (t, fail) => (schema) => {
    if (schema.fields.some((f) => f.name === t.name)) fail(schema, `column ${t.name} already exists`, 'name', t.name);
    const value = String(t.value);
    // CloudQuery adds a non-nullable utf8 column with no column metadata
    const out = new A.Schema([...schema.fields, new A.Field(t.name!, new A.Utf8(), false)], schema.metadata);
    return { schema: out, run: (c) => ({ length: c.length, cols: [...c.cols, constantUtf8Data(value, c.length)] }) };
  },
};
