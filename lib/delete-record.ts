/**
 * The engine's check of a `delete-record` before a destination applies it (docs/semantics.md,
 * "delete-record"): its relations put in cascade order — every relation after the relation (or the
 * table) that deletes its parent's rows — so a destination can apply them in list order, as
 * CloudQuery's Postgres destination chains its CTEs. A relation whose parent is neither the table
 * nor the table of another relation could never delete anything: that is an error of the message.
 */
import { SourceDataError } from './errors.js';
import type { DeleteRecordMessage, TableRelation } from './messages.js';

/** `msg` with its relations in cascade order (the same object when they already are) */
export function inCascadeOrder(msg: DeleteRecordMessage, connector?: string): DeleteRecordMessage {
  const deleted = new Set([msg.table]);
  const ordered: TableRelation[] = [];
  let rest = msg.relations;
  while (rest.length) {
    const ready = rest.filter((r) => deleted.has(r.parent));
    if (!ready.length) {
      const r = rest[0]!;
      const why = `relation ${r.table} has parent ${r.parent}, which is neither ${msg.table} nor the table of another relation`;
      throw new SourceDataError(`delete-record for table ${msg.table}: ${why}; list each child table with the table its _cq_parent_id references`, {
        connector,
        table: msg.table,
        phase: 'delete-record',
      });
    }
    for (const r of ready) {
      ordered.push(r);
      deleted.add(r.table);
    }
    rest = rest.filter((r) => !ready.includes(r));
  }
  return ordered.every((r, i) => r === msg.relations[i]) ? msg : { ...msg, relations: ordered };
}
