/**
 * CloudQuery's `MessageDeleteRecord` (Sync field 3, Write field 4; the same shape in both) and
 * cq-pipe's `delete-record` message (lib/messages.ts), both ways. On the wire: `table_name`,
 * `where_clause` (groups of `{operator EQ=0, column, record}` joined by `grouping_type` AND=0 | OR=1)
 * and `table_relations` (`{table_name, parent_table}`); each predicate's value is an Arrow IPC
 * stream of one batch with one row whose first column is the value (a Go destination reads
 * `Record.Column(0)` at row 0), its schema carrying the column's type and extension metadata.
 */
import type * as A from 'apache-arrow';
import type { DeleteRecordMessage, PredicateGroup } from '../../lib/messages.js';
import { decodePredicateValue, encodePredicateValue } from './arrow-wire.js';

/** protobuf `PredicatesGroup.GroupingType` */
const GROUPING: Record<number, PredicateGroup['grouping']> = { 0: 'and', 1: 'or' };
const GROUPING_WIRE: Record<PredicateGroup['grouping'], number> = { and: 0, or: 1 };
/** protobuf `Predicate.Operator`: EQ is the only one */
const OPERATOR_EQ = 0;

/** what both generated `MessageDeleteRecord` classes (Sync and Write) hold */
export interface WireDeleteRecord {
  table_name: string;
  where_clause: { grouping_type: number; predicates: { operator: number; column: string; record: Uint8Array }[] }[];
  table_relations: { table_name: string; parent_table: string }[];
}

/**
 * A wire delete_record as cq-pipe's message. Throws a TypeError saying which group or predicate is
 * wrong (an unknown grouping or operator, a value record that is not one column and one row).
 */
export function fromWireDeleteRecord(m: WireDeleteRecord): DeleteRecordMessage {
  const where = m.where_clause.map((g, gi): PredicateGroup => {
    const grouping = GROUPING[g.grouping_type];
    if (!grouping) throw new TypeError(`where_clause group ${gi + 1} has grouping type ${g.grouping_type}, cq-pipe knows AND (0) and OR (1)`);
    return {
      grouping,
      predicates: g.predicates.map((p, pi) => {
        const at = `where_clause group ${gi + 1}, predicate ${pi + 1} (column ${p.column || '(none)'})`;
        if (p.operator !== OPERATOR_EQ) throw new TypeError(`${at} has operator ${p.operator}, cq-pipe knows EQ (0)`);
        if (!p.column) throw new TypeError(`${at} names no column`);
        let value: A.RecordBatch;
        try {
          value = decodePredicateValue(p.record);
        } catch (err) {
          throw new TypeError(`${at}: its value record ${(err as Error).message}`);
        }
        return { operator: 'eq', column: p.column, value };
      }),
    };
  });
  const relations = m.table_relations.map((r) => ({ table: r.table_name, parent: r.parent_table }));
  return { kind: 'delete-record', table: m.table_name, where, relations };
}

/** cq-pipe's message as the plain object of a wire delete_record (for `MessageDeleteRecord.fromObject`). */
export function toWireDeleteRecord(msg: DeleteRecordMessage): WireDeleteRecord {
  return {
    table_name: msg.table,
    where_clause: msg.where.map((g) => ({
      grouping_type: GROUPING_WIRE[g.grouping],
      predicates: g.predicates.map((p) => ({ operator: OPERATOR_EQ, column: p.column, record: encodePredicateValue(p.value) })),
    })),
    table_relations: msg.relations.map((r) => ({ table_name: r.table, parent_table: r.parent })),
  };
}
