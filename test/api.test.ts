/** The library API example (docs/api.md) runs and its Parquet reads back. */
import path from 'node:path';
import t from 'tap';
import { main } from '../examples/library-sync.js';
import { duckdb, tmpDir } from './helpers/index.js';

t.test('examples/library-sync.ts: a custom async-generator source through stream.pipeline()', async (t) => {
  const dir = await tmpDir(t);
  const written = await main(dir);
  t.equal(written, 3000);
  const glob = path.join(dir, 'orders/*.parquet');
  const [r] = await duckdb(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT _cq_id)::INTEGER AS ids, min(_cq_source_name) AS src, sum(total)::DOUBLE AS total FROM ` +
      `read_parquet('${glob}')`,
  );
  t.same(r, { n: 3000, ids: 3000, src: 'orders-api', total: ((2999 * 3000) / 2) * 1.25 });
  const types = Object.fromEntries((await duckdb(`DESCRIBE SELECT * FROM read_parquet('${glob}')`)).map((x) => [x.column_name, x.column_type]));
  t.equal(types.total, 'DECIMAL(10,2)');
  t.match(types.placed_at, /^TIMESTAMP/);
});
