/**
 * Binary COPY values → Arrow (connectors/postgresql/copy-decode.ts), fed wire bytes directly: the
 * 64-bit columns (int8, timestamp) decoded without a BigInt per value, at their edges.
 */
import * as A from 'apache-arrow';
import t from 'tap';
import { DecodeError, decoderFor } from '../connectors/postgresql/copy-decode.js';
import { PG_EPOCH_US, microsToIso, TS_INFINITY, TS_NEG_INFINITY } from '../lib/arrow/time.js';
import { fieldFor, parseColumnType } from '../lib/types.js';

const be64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const MAX = 0x7fffffffffffffffn;
const MIN = -0x8000000000000000n;

t.test('int8: every bit pattern kept, nulls with a validity bit', async (t) => {
  const d = decoderFor(new A.Field('n', new A.Int64()), 'bigint');
  const values = [0n, 1n, -1n, MAX, MIN, 4294967295n, -4294967296n, 123456789012345678n, -123456789012345678n];
  for (const v of values) d.push(be64(v), 0, 8);
  d.pushNull();
  t.equal(d.lastText(), '0', 'the null slot holds 0');
  t.equal(d.length, values.length + 1);
  const data = d.finish();
  t.same([...(data.values as BigInt64Array)], [...values, 0n]);
  t.equal(data.nullCount, 1);
  t.equal(d.length, 0, 'finish starts the next batch');
});

t.test('timestamp: moved from the 2000 epoch to 1970 with the carry; ±infinity to the sentinels; past 294246 AD an error', async (t) => {
  const d = decoderFor(new A.Field('ts', new A.Timestamp(A.TimeUnit.MICROSECOND, 'UTC')), 'timestamp with time zone');
  const wire = [0n, 1n, -1n, -PG_EPOCH_US, 4294967295n, -4294967296n, -123456789012345678n, MAX - PG_EPOCH_US - 1n, MAX, MIN];
  d.push(be64(wire[0]!), 0, 8);
  t.equal(d.lastText(), microsToIso(PG_EPOCH_US), 'the last value as text (a cursor)');
  t.match(d.lastText(), /^2000-01-01T00:00:00/);
  for (const v of wire.slice(1)) d.push(be64(v), 0, 8);
  const data = d.finish();
  t.same(
    [...(data.values as BigInt64Array)],
    [
      PG_EPOCH_US,
      PG_EPOCH_US + 1n,
      PG_EPOCH_US - 1n,
      0n,
      PG_EPOCH_US + 4294967295n,
      PG_EPOCH_US - 4294967296n,
      PG_EPOCH_US - 123456789012345678n,
      MAX - 1n,
      TS_INFINITY,
      TS_NEG_INFINITY,
    ],
  );
  for (const v of [MAX - PG_EPOCH_US, MAX - 1n]) {
    t.throws(() => d.push(be64(v), 0, 8), DecodeError);
    t.throws(() => d.push(be64(v), 0, 8), { message: 'column "ts": a timestamp past year 294246 does not fit µs since 1970' });
  }
  t.equal(d.length, 0, 'a value that does not fit is not taken');
});

t.test('uuid: 16 bytes per value, at any offset of the chunk', async (t) => {
  const d = decoderFor(fieldFor('id', parseColumnType('uuid'), true), 'uuid');
  const chunk = Buffer.alloc(40);
  for (let i = 0; i < 40; i++) chunk[i] = i;
  d.push(chunk, 3, 16);
  d.push(chunk, 20, 16);
  t.equal(d.lastText(), '14151617-1819-1a1b-1c1d-1e1f20212223');
  const data = d.finish();
  t.same([...(data.values as Uint8Array)], [...chunk.subarray(3, 19), ...chunk.subarray(20, 36)]);
});
