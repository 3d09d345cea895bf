/**
 * The `test` transformer, as CloudQuery's (`path: cloudquery/test`, its plugins/transformer/test):
 * passes every message through, or fails on purpose for trying a config's error handling.
 *
 *   spec: { fail_immediately: false, fail_after_n_source_records: 0, exit_immediately: false }
 *
 * `fail_immediately` fails the sync at the first record, `fail_after_n_source_records: N` once more
 * than N records went through; `exit_immediately` (a plugin process that exits, in CloudQuery) stops
 * the sync the same way. Each is a CQ_ERR_TRANSFORM naming the transformer: exit 1.
 */
import type { SyncMessage } from '../lib/messages.js';
import { TransformError } from '../lib/errors.js';
import { defineTransformer, type MessageStage } from '../lib/transformer.js';

export interface TestTransformerSpec {
  fail_immediately?: boolean;
  fail_after_n_source_records?: number;
  exit_immediately?: boolean;
}

export const testTransformer = defineTransformer<TestTransformerSpec | null>({
  name: 'test',
  configSchema: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: {
      fail_immediately: { type: 'boolean', default: false },
      fail_after_n_source_records: { type: 'integer', minimum: 0, default: 0 },
      exit_immediately: { type: 'boolean', default: false },
    },
  },
  create(spec, ctx): MessageStage {
    const s = spec ?? {};
    const failAfter = s.fail_after_n_source_records ?? 0;
    return async function* test(source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
      let records = 0;
      for await (const msg of source) {
        if (msg.kind === 'insert') {
          records += msg.batch.numRows;
          const why = s.exit_immediately
            ? 'exit_immediately: the test transformer stops the sync'
            : s.fail_immediately || (failAfter > 0 && records > failAfter)
              ? 'failing at the transformer stage according to spec requirements'
              : undefined;
          if (why) throw new TransformError(`transformer ${ctx.name}: ${why}`, { table: msg.table, phase: `transformer ${ctx.name}` });
        }
        yield msg;
      }
    };
  },
});
