/**
 * The `memory` destination: tables held in process memory with full write-mode semantics
 * (append, upsert by primary key, delete-stale, delete-record with its cascade). It is the reference implementation the
 * destination conformance suite is validated against, and handy in library code and tests:
 * `memoryTables(name)` returns what a destination named `name` holds.
 */
import type * as A from 'apache-arrow';
import { defineDestination, type DestinationClient } from '../lib/connector.js';
import { CQ_ID, CQ_PARENT_ID, CQ_SOURCE_NAME, CQ_SYNC_TIME, primaryKeys, tableName } from '../lib/schema.js';
import type { DeleteRecordMessage, PredicateGroup } from '../lib/messages.js';
import { inCascadeOrder } from '../lib/delete-record.js';
import { extensionOf } from '../lib/types.js';
import { uuidToString } from '../lib/arrow/index.js';

export interface MemoryTable {
  schema: A.Schema;
  /** rows in insertion order; upserts replace in place */
  rows: Record<string, unknown>[];
}

const stores = new Map<string, Map<string, MemoryTable>>();

/** The tables a memory destination named `name` holds (created on first use). */
export function memoryTables(name: string): Map<string, MemoryTable> {
  let s = stores.get(name);
  if (!s) {
    s = new Map();
    stores.set(name, s);
  }
  return s;
}

/** JS values of one row, with uuids as strings and json as parsed values. */
export function rowObjects(batch: A.RecordBatch): Record<string, unknown>[] {
  const fields = batch.schema.fields;
  const vecs = fields.map((_, i) => batch.getChildAt(i)!);
  const out: Record<string, unknown>[] = [];
  for (let r = 0; r < batch.numRows; r++) {
    const row: Record<string, unknown> = {};
    fields.forEach((f, i) => {
      let v = vecs[i]!.get(r);
      const ext = extensionOf(f);
      if (v !== null && v !== undefined) {
        if (ext === 'uuid') v = uuidToString(v as Uint8Array);
        else if (ext === 'json') v = JSON.parse(new TextDecoder().decode(v as Uint8Array));
        else if (ext === 'inet') v = new TextDecoder().decode(v as Uint8Array);
        else if (typeof v === 'object' && 'toJSON' in (v as object)) v = (v as { toJSON(): unknown }).toJSON();
      }
      row[f.name] = v;
    });
    out.push(row);
  }
  return out;
}

export const memoryDestination = defineDestination<Record<string, never>>({
  name: 'memory',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 10000, bytes: 5 * 1024 * 1024, timeoutMs: 20000 } },
  create(_spec, ctx): DestinationClient {
    const tables = memoryTables(ctx.name);
    return {
      async migrateTables(schemas) {
        for (const s of schemas) {
          const name = tableName(s);
          const t = tables.get(name);
          if (!t) tables.set(name, { schema: s, rows: [] });
          else t.schema = s;
        }
        return [];
      },
      async writeBatch(schema, batches) {
        const name = tableName(schema);
        let t = tables.get(name);
        if (!t) {
          t = { schema, rows: [] };
          tables.set(name, t);
        }
        const pk = primaryKeys(schema);
        const index = new Map<string, number>();
        if (pk.length) for (const [i, row] of t.rows.entries()) index.set(JSON.stringify(pk.map((k) => String(row[k]))), i);
        for (const b of batches) {
          for (const row of rowObjects(b)) {
            if (!pk.length) {
              t.rows.push(row);
              continue;
            }
            const key = JSON.stringify(pk.map((k) => String(row[k])));
            const at = index.get(key);
            if (at === undefined) {
              index.set(key, t.rows.length);
              t.rows.push(row);
            } else {
              t.rows[at] = row;
            }
          }
        }
      },
      async deleteStale(msgs) {
        for (const m of msgs) {
          const t = tables.get(m.table);
          if (!t) continue;
          const cutoff = m.syncTime.getTime();
          t.rows = t.rows.filter((r) => !(r[CQ_SOURCE_NAME] === m.sourceName && (r[CQ_SYNC_TIME] as number) < cutoff));
        }
      },
      async deleteRecord(msg) {
        deleteRecordIn(tables, msg);
      },
      async close() {},
    };
  },
});

/** a value compared for equality: numbers and bigints by their digits, the rest by their JSON */
function valueKey(v: unknown): string {
  return typeof v === 'bigint' || typeof v === 'number' ? `n${String(v)}` : JSON.stringify(v);
}

/** groups ANDed, a group's predicates by its grouping; a null on either side matches nothing (SQL `=`) */
function matches(row: Record<string, unknown>, where: readonly { grouping: PredicateGroup['grouping']; preds: [string, string | null][] }[]): boolean {
  const eq = ([column, key]: [string, string | null]) => key !== null && row[column] !== null && row[column] !== undefined && valueKey(row[column]) === key;
  return where.every((g) => g.preds.length === 0 || (g.grouping === 'and' ? g.preds.every(eq) : g.preds.some(eq)));
}

/** CloudQuery's DeleteRecord on the tables held: the matching rows, then the relations' child rows by `_cq_parent_id` */
function deleteRecordIn(tables: Map<string, MemoryTable>, unordered: DeleteRecordMessage): void {
  const msg = inCascadeOrder(unordered);
  const where = msg.where.map((g) => ({
    grouping: g.grouping,
    preds: g.predicates.map((p): [string, string | null] => {
      const v = rowObjects(p.value)[0]?.[p.value.schema.fields[0]!.name];
      return [p.column, v === null || v === undefined ? null : valueKey(v)];
    }),
  }));
  const deletedIds = new Map<string, Set<string>>();
  const remove = (table: string, hit: (r: Record<string, unknown>) => boolean) => {
    const t = tables.get(table);
    const ids = deletedIds.get(table) ?? new Set<string>();
    deletedIds.set(table, ids);
    if (!t) return;
    t.rows = t.rows.filter((r) => {
      if (!hit(r)) return true;
      if (typeof r[CQ_ID] === 'string') ids.add(r[CQ_ID] as string);
      return false;
    });
  };
  remove(msg.table, (r) => matches(r, where));
  for (const rel of msg.relations) {
    const parents = deletedIds.get(rel.parent) ?? new Set<string>();
    remove(rel.table, (r) => typeof r[CQ_PARENT_ID] === 'string' && parents.has(r[CQ_PARENT_ID] as string));
  }
}
