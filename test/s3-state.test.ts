/** The S3 state backend: a full snapshot object, conditional puts, a clear conflict error. */
import t from 'tap';
import { openState } from '../index.js';
import { conditionalS3 } from './helpers/s3-conditional.js';

process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';

t.test('s3:// state: round trip, versions, and a conflicting writer gets an error instead of lost keys', async (t) => {
  const { endpoint } = await conditionalS3();
  const backend = {
    table_name: 'cq_state_shop',
    connection: `s3://state-bucket/cq/shop?endpoint=${encodeURIComponent(endpoint)}&path_style=true&region=us-east-1`,
  };
  const a = await openState(backend, 'shop');
  a.set('orders', '2024-01-01T00:00:00Z');
  a.set('items', '10');
  await a.flush();
  a.set('orders', '2024-01-02T00:00:00Z');
  await a.flush();
  await a.close();
  const b = await openState(backend, 'shop');
  t.same(Object.fromEntries(b.entries()), { orders: '2024-01-02T00:00:00Z', items: '10' }, 'the snapshot holds every key');
  // two writers loaded the same snapshot; the second to save must not clobber the first
  const c = await openState(backend, 'shop');
  b.set('orders', '2024-02-01T00:00:00Z');
  await b.flush();
  c.set('items', '99');
  await t.rejects(c.flush(), {
    code: 'CQ_ERR_STATE_CONFLICT',
    name: 'S3StateConflictError',
    message: /state conflict: s3:\/\/state-bucket\/cq\/shop\/cq_state_shop\.json was changed by another writer/,
  });
  await b.close();
  await c.close();
  const d = await openState(backend, 'shop');
  t.same(Object.fromEntries(d.entries()), { orders: '2024-02-01T00:00:00Z', items: '10' }, "the first writer's keys survive");
  await d.close();
  // a brand-new snapshot is created with If-None-Match: * — a racing creator also conflicts
  const fresh = { ...backend, table_name: 'new_state' };
  const e = await openState(fresh, 'shop');
  const f = await openState(fresh, 'shop');
  e.set('k', '1');
  await e.flush();
  f.set('k', '2');
  await t.rejects(f.flush(), { code: 'CQ_ERR_STATE_CONFLICT', message: /state conflict/ });
  await e.close();
  await f.close();
});
