import t from 'tap';
import { parseColumnType, typeName } from '../lib/types.js';
import { fieldFor } from '../lib/types.js';
t.test('type vocabulary round trips', async (t) => {
  for (const s of ['int64', 'decimal(10,2)', 'list<utf8>', 'struct<a: int64, b: list<uuid>>', 'timestamp', 'uuid', 'json', 'date32', 'time64', 'uint64']) {
    t.equal(typeName(fieldFor('x', parseColumnType(s), true)), s, s);
  }
  t.throws(() => parseColumnType('int65'), /unknown type/);
});
