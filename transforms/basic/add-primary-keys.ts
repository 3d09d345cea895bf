/** `add_primary_keys`: mark existing columns as primary-key columns (field metadata only) (docs/transformers.md). */
import * as A from 'apache-arrow';
import { didYouMean } from '../../lib/config/suggest.js';
import { MD_PRIMARY_KEY, withFieldMetadata } from '../../lib/schema.js';
import { COLUMNS, type KindOp } from './transformation.js';

export const addPrimaryKeys: KindOp = {
  keys: { required: ['columns'], properties: { columns: COLUMNS } },
  compile: (t, fail) => (schema) => {
    const names = new Set(schema.fields.map((f) => f.name));
    for (const c of t.columns!) if (!names.has(c)) fail(schema, `column ${c} not found${didYouMean(c, [...names])}`, 'columns', c);
    const want = new Set(t.columns);
    return {
      schema: new A.Schema(
        schema.fields.map((f) => (want.has(f.name) ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'true' }) : f)),
        schema.metadata,
      ),
    };
  },
};
