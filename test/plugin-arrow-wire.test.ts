/** Arrow on the plugin wire: what cq-pipe sends to plugins decodes to exactly what it had (one batch, metadata, µs). */
import t from 'tap';
import * as A from 'apache-arrow';
import { decodeRecord, decodeSchema, encodeRecord, encodeSchema } from '../connectors/cloudquery-plugin/arrow-wire.js';
import { uuidData } from '../lib/arrow/uuid.js';
import { EXT_META, EXT_NAME } from '../lib/types.js';

const uuidField = new A.Field(
  '_cq_id',
  new A.FixedSizeBinary(16),
  false,
  new Map([
    [EXT_NAME, 'uuid'],
    [EXT_META, 'uuid-serialized'],
    ['cq:extension:unique', 'true'],
  ]),
);
const tsField = new A.Field('at', new A.TimestampMicrosecond('UTC'), true);
const schema = new A.Schema(
  [uuidField, tsField],
  new Map([
    ['cq:table_name', 'things'],
    ['cq:extension:constraint_name', 'things_cqpk'],
  ]),
);

/** how many record-batch messages an IPC stream really holds (the reader invents an empty one for none) */
function batchMessages(bytes: Uint8Array): number {
  let n = 0;
  const reader = new A.MessageReader(bytes);
  for (const m of reader) {
    if (m.isRecordBatch()) n++;
    if (m.bodyLength > 0) reader.readMessageBody(m.bodyLength);
  }
  return n;
}

t.test('a schema travels as a schema message and no batch, with every metadata key', async (t) => {
  const bytes = encodeSchema(schema);
  t.equal(batchMessages(bytes), 0);
  const back = decodeSchema(bytes);
  t.same([...back.metadata], [...schema.metadata]);
  t.same(
    back.fields.map((f) => [f.name, String(f.type), f.nullable, [...f.metadata]]),
    schema.fields.map((f) => [f.name, String(f.type), f.nullable, [...f.metadata]]),
  );
});

t.test('a record is one stream with exactly one batch; µs timestamps stay exact', async (t) => {
  const micros = new BigInt64Array([1700000000123456n, 253402300799999999n, 1n]);
  const idBytes = new Uint8Array(48).map((_, i) => (i * 37) & 255);
  const ids = uuidData(idBytes, 3);
  const ts = A.makeData({ type: new A.TimestampMicrosecond('UTC'), length: 3, data: micros });
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 3, children: [ids, ts] }));
  const bytes = encodeRecord(batch);
  t.equal(batchMessages(bytes), 1);
  const { schema: s, batches } = decodeRecord(bytes);
  t.equal(s.metadata.get('cq:table_name'), 'things');
  t.equal(batches.length, 1);
  t.same([...(batches[0]!.getChildAt(1)!.data[0]!.values as BigInt64Array)], [...micros]);
  t.same([...(batches[0]!.getChildAt(0)!.data[0]!.values as Uint8Array)].slice(0, 16), [...idBytes].slice(0, 16));
  t.throws(() => encodeRecord(batch.slice(0, 0)), RangeError);
});
