/**
 * A module source and a module destination that report to the test what the engine did with them
 * (open, list tables, close and with what) through a probe registered in-process under a key, and
 * that can be made to fail at open or wait for each other — to test how a sync opens its two sides.
 */
import type * as A from 'apache-arrow';
import { defineDestination, defineSource } from '../../lib/connector.js';

export interface Probe {
  /** what happened, in order: `source-open`, `source-tables`, `source-close`, `dest-open`, `dest-close` or `dest-close(error)` */
  events: string[];
  tables: A.Schema[];
  /** the source's table listing waits for this before it answers (or throws `listError`) */
  listAfter?: Promise<unknown>;
  listError?: Error;
  /** the destination's open throws this */
  openError?: Error;
  /** resolved when the destination has been opened */
  destOpened: Promise<void>;
  markDestOpened: () => void;
}

const probes = new Map<string, Probe>();
let next = 0;

export function registerProbe(tables: A.Schema[], over: Partial<Probe> = {}): { key: string; probe: Probe } {
  let markDestOpened!: () => void;
  const destOpened = new Promise<void>((r) => {
    markDestOpened = r;
  });
  const probe: Probe = { events: [], tables, destOpened, markDestOpened, ...over };
  const key = `probe-${++next}`;
  probes.set(key, probe);
  return { key, probe };
}

const probeOf = (key: string): Probe => {
  const p = probes.get(key);
  if (!p) throw new Error(`no probe under ${key}`);
  return p;
};

export const PROBE_SOURCE_PATH = new URL(import.meta.url).pathname.replace(/probe-connectors\.js$/, 'probe-source.js');
export const PROBE_DESTINATION_PATH = new URL(import.meta.url).pathname.replace(/probe-connectors\.js$/, 'probe-destination.js');

export const probeSource = defineSource<{ key: string }>({
  name: 'probe',
  configSchema: { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string' } } },
  create(spec) {
    const p = probeOf(spec.key);
    p.events.push('source-open');
    return {
      async tables() {
        await p.listAfter;
        p.events.push('source-tables');
        if (p.listError) throw p.listError;
        return p.tables;
      },
      async *read() {},
      async close() {
        p.events.push('source-close');
      },
    };
  },
});

export const probeDestination = defineDestination<{ key: string }>({
  name: 'probe',
  configSchema: { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string' } } },
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10, bytes: 1 << 20, timeoutMs: 1000 } },
  async create(spec) {
    const p = probeOf(spec.key);
    p.events.push('dest-open');
    p.markDestOpened();
    if (p.openError) throw p.openError;
    return {
      async migrateTables() {
        return [];
      },
      async writeBatch() {},
      async close(err?: Error) {
        p.events.push(err ? `dest-close(${err.message})` : 'dest-close');
      },
    };
  },
});
