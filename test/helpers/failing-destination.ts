/** A module destination whose writes fail after `fail_after` batches (for checkpoint tests). */
import { defineDestination } from '../../lib/connector.js';
import { DestinationWriteError } from '../../lib/errors.js';

export const FAILING_DESTINATION_PATH = new URL(import.meta.url).pathname;

export default defineDestination<{ fail_after?: number }>({
  name: 'failing',
  configSchema: { type: 'object', properties: { fail_after: { type: 'integer' } } },
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10, bytes: 1 << 20, timeoutMs: 1000 } },
  create(spec) {
    let batches = 0;
    return {
      async migrateTables() {
        return [];
      },
      async writeBatch(s) {
        if (++batches > (spec.fail_after ?? 0)) throw new DestinationWriteError('injected failure', { table: s.metadata.get('cq:table_name') });
      },
      async close() {},
    };
  },
});
