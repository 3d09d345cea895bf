/** `add_current_timestamp_column`: a timestamp column holding the time each batch was transformed (docs/transformers.md). */
import * as A from 'apache-arrow';
import { fieldFor, parseColumnType } from '../../lib/types.js';
import { constantTimestampData } from '../../lib/arrow/index.js';
import { STR, type KindOp } from './transformation.js';

export const addCurrentTimestampColumn: KindOp = {
  keys: { required: ['name'], properties: { name: STR } },
  compile: (t, fail) => (schema) => {
    if (schema.fields.some((f) => f.name === t.name)) fail(schema, `column ${t.name} already exists`, 'name', t.name);
    const out = new A.Schema([...schema.fields, fieldFor(t.name!, parseColumnType('timestamp'), true)], schema.metadata);
    return { schema: out, run: (c) => ({ length: c.length, cols: [...c.cols, constantTimestampData(BigInt(Date.now()) * 1000n, c.length)] }) };
  },
};
