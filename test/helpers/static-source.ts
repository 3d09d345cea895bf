/**
 * A module source for tests: serves tables and batches registered in-process under a key, so a
 * test can run the whole engine (runSync, config-shaped) over exactly the rows it wants.
 */
import type * as A from 'apache-arrow';
import { defineSource } from '../../lib/connector.js';
import type { SyncMessage } from '../../lib/messages.js';
import { tableName } from '../../lib/schema.js';

export interface StaticData {
  tables: A.Schema[];
  /** messages to emit, in order (inserts, checkpoints, table errors) */
  messages: SyncMessage[];
  /** counts how many messages the engine pulled */
  pulled?: number;
  /** delay (ms) before each message, to exercise timers */
  delayMs?: number;
  /** run before each message is emitted (e.g. to inject a fault at a chosen point) */
  before?: (m: SyncMessage, index: number) => Promise<void>;
}

const registry = new Map<string, StaticData>();
let next = 0;

export function registerStatic(data: StaticData): string {
  const key = `static-${++next}`;
  registry.set(key, data);
  return key;
}

export const STATIC_SOURCE_PATH = new URL(import.meta.url).pathname;

export default defineSource<{ key: string }>({
  name: 'static',
  configSchema: { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string' } } },
  create(spec) {
    const data = registry.get(spec.key);
    if (!data) throw new Error(`no static data under ${spec.key}`);
    return {
      async tables() {
        return data.tables;
      },
      async *read(tables, opts) {
        const wanted = new Set(tables.map(tableName));
        data.pulled = 0;
        for (const m of data.messages) {
          if (opts.signal.aborted) return;
          if ((m.kind === 'insert' || m.kind === 'table-error') && !wanted.has(m.table)) continue;
          if (data.delayMs) await new Promise((r) => setTimeout(r, data.delayMs));
          await data.before?.(m, data.pulled);
          data.pulled++;
          yield m;
        }
      },
    };
  },
});
