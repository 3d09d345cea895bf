import t from 'tap';
import { runDestinationSuite } from './conformance/destination.js';
import { memoryTables } from '../connectors/memory.js';

runDestinationSuite(t, {
  path: 'memory',
  spec: async () => ({}),
  read: async (_spec, destination, table) => memoryTables(destination).get(table)?.rows ?? [],
  supports: { upsert: true, deleteStale: true, deleteRecord: true },
  defaultWriteMode: 'overwrite-delete-stale',
});
