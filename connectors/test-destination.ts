/**
 * The `test` destination, as CloudQuery's (`path: cloudquery/test` in its CLI fixtures): it accepts
 * every migration, write and delete and keeps nothing. For trying a source or a config end to end
 * without a store (docs/plugins.md).
 *
 * Its spec keys are CloudQuery's (plugins/destination/test/client/spec.go): `error_on_write`,
 * `error_on_migrate`, `error_on_insert` fail the destination at that step (exit 1);
 * `exit_on_write`, `exit_on_migrate`, `exit_on_insert` (a plugin process that exits, in CloudQuery)
 * fail it the same way; `batch_writer`, `stream_batch_writer`, `mixed_batch_writer` choose a Go SDK
 * writer there and are accepted here.
 */
import { defineDestination, type DestinationClient } from '../lib/connector.js';
import { DestinationWriteError } from '../lib/errors.js';
import type { StateBackendProvider } from '../lib/registry.js';
import { MemoryState } from '../lib/state/index.js';

/**
 * The state a test destination holds as a backend (`@@plugins.<test destination>.connection`, as in
 * CloudQuery's CLI fixtures): `memory://`, kept for the sync and then gone, as the test plugin keeps nothing.
 */
export const memoryStateBackend: StateBackendProvider = {
  schemes: ['memory://'],
  open: async () => new MemoryState(),
};

const FLAGS = ['error_on_write', 'error_on_migrate', 'error_on_insert', 'exit_on_write', 'exit_on_migrate', 'exit_on_insert'] as const;
const WRITERS = ['batch_writer', 'stream_batch_writer', 'mixed_batch_writer'] as const;
type TestDestinationSpec = Partial<Record<(typeof FLAGS)[number] | (typeof WRITERS)[number], boolean>>;

export const testDestination = defineDestination<TestDestinationSpec | null>({
  name: 'test',
  configSchema: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: Object.fromEntries([...FLAGS, ...WRITERS].map((k) => [k, { type: 'boolean', default: false }])),
  },
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10000, bytes: 100_000_000, timeoutMs: 60_000 } },
  stateConnection: () => 'memory://',
  create(spec, ctx): DestinationClient {
    const s = spec ?? {};
    /** the first flag set for this step, as CloudQuery's test destination checks them */
    const fail = (step: 'migrate' | 'insert') => {
      const flag = [`error_on_write`, `error_on_${step}`, `exit_on_write`, `exit_on_${step}`].find((k) => s[k as (typeof FLAGS)[number]]);
      if (flag) throw new DestinationWriteError(`${flag} is true`, { connector: ctx.name, phase: step });
    };
    return {
      async migrateTables() {
        fail('migrate');
        return [];
      },
      async writeBatch() {
        fail('insert');
      },
      async deleteStale() {},
      // CloudQuery's test destination accepts a DeleteRecord and keeps nothing (only error_on_write / exit_on_write fail every message)
      async deleteRecord() {
        const flag = (['error_on_write', 'exit_on_write'] as const).find((k) => s[k]);
        if (flag) throw new DestinationWriteError(`${flag} is true`, { connector: ctx.name, phase: 'delete-record' });
      },
      async close() {},
    };
  },
});
