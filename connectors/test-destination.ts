/**
 * The `test` destination, as CloudQuery's (`path: cloudquery/test` in its CLI fixtures): it accepts
 * every migration, write and delete and keeps nothing. For trying a source or a config end to end
 * without a store (docs/plugins.md).
 */
import { defineDestination, type DestinationClient } from '../lib/connector.js';

export const testDestination = defineDestination<Record<string, never>>({
  name: 'test',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10000, bytes: 100_000_000, timeoutMs: 60_000 } },
  create(): DestinationClient {
    return {
      async migrateTables() {
        return [];
      },
      async writeBatch() {},
      async deleteStale() {},
      async close() {},
    };
  },
});
