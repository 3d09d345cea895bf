/** The postgresql destination against a real Postgres: conformance, migrations, types, dead letters. */
import t from 'tap';
import { runDestinationSuite } from './conformance/destination.js';
import { freshDatabase, query } from './helpers/postgres.js';

runDestinationSuite(t, {
  path: 'postgresql',
  spec: async () => ({ connection_string: await freshDatabase() }),
  read: async (spec, _destination, table) => query(spec.connection_string as string, `SELECT * FROM "${table}"`),
  supports: { upsert: true, deleteStale: true },
  defaultWriteMode: 'overwrite-delete-stale',
});
