/**
 * Adds the reserved columns (docs/semantics.md) to every table of one source:
 *   _cq_sync_time, _cq_source_name, _cq_id, _cq_parent_id — values a source already sets are kept,
 *   and the rows where a source left them null get the engine's value (fill-reserved.ts).
 * A table with no primary key gets `_cq_id` as its key. With `deterministic_cq_id`, `_cq_id` is the
 * only key of every table, as the CloudQuery SDK's scheduler does (`schema.CqIDAsPK`): the source's
 * key columns become plain columns (their other flags and nullability kept); the ids are still
 * computed from the source's key.
 */
import * as A from 'apache-arrow';
import { assertNever, type SyncMessage } from '../messages.js';
import {
  CQ_ID,
  CQ_PARENT_ID,
  CQ_SOURCE_NAME,
  CQ_SYNC_TIME,
  MD_PRIMARY_KEY,
  MD_UNIQUE,
  MD_INCREMENTAL,
  batchFromColumns,
  isPrimaryKey,
  primaryKeys,
  tableName,
  withFieldMetadata,
} from '../schema.js';
import { fieldFor, parseColumnType } from '../types.js';
import { constantTimestampData, constantUtf8Data, nullData } from '../arrow/index.js';
import { deterministicCqIds, randomCqIds } from '../cq-id.js';
import { dateToMicros } from '../time.js';
import { SchemaIncompatibleError } from '../errors.js';
import { fillStrings, fillTimestamp, fillUuids } from './fill-reserved.js';

export interface InternalColumnsOptions {
  sourceName: string;
  syncTime: Date;
  deterministicCqId: boolean;
}

export interface AddInternalColumnsOptions {
  /** `_cq_id` as the only key (the source's `deterministic_cq_id`) */
  cqIdAsPk?: boolean;
}

type Reserved = typeof CQ_SYNC_TIME | typeof CQ_SOURCE_NAME | typeof CQ_ID | typeof CQ_PARENT_ID;
/** a source column (its null rows filled when it is a reserved one), or a reserved column the engine makes */
type ColumnPlan = { from: number; fill?: Reserved } | { make: Reserved };

interface TablePlan {
  schema: A.Schema;
  columns: ColumnPlan[];
  /** source primary keys (for deterministic ids) */
  pk: string[];
  sourceSchema: A.Schema;
}

function flags(pk: boolean, unique: boolean): Map<string, string> {
  return new Map([
    [MD_PRIMARY_KEY, String(pk)],
    [MD_UNIQUE, String(unique)],
    [MD_INCREMENTAL, 'false'],
  ]);
}

const FILLED = new Set<string>([CQ_SYNC_TIME, CQ_SOURCE_NAME, CQ_ID]);

/** The destination-facing schema of a source table: reserved columns first. */
export function addInternalColumns(source: A.Schema, opts: AddInternalColumnsOptions = {}): { schema: A.Schema; columns: ColumnPlan[] } {
  const hasPk = primaryKeys(source).length > 0;
  const present = new Set(source.fields.map((f) => f.name));
  let fields: A.Field[] = [];
  const columns: ColumnPlan[] = [];
  const reserved: [Reserved, () => A.Field][] = [
    [CQ_SYNC_TIME, () => fieldFor(CQ_SYNC_TIME, parseColumnType('timestamp'), true, flags(false, false))],
    [CQ_SOURCE_NAME, () => fieldFor(CQ_SOURCE_NAME, parseColumnType('utf8'), true, flags(false, false))],
    [CQ_ID, () => fieldFor(CQ_ID, parseColumnType('uuid'), false, flags(!hasPk, true))],
    [CQ_PARENT_ID, () => fieldFor(CQ_PARENT_ID, parseColumnType('uuid'), true, flags(false, false))],
  ];
  for (const [name, make] of reserved) {
    if (present.has(name)) continue;
    fields.push(make());
    columns.push({ make: name });
  }
  source.fields.forEach((f, i) => {
    fields.push(f);
    columns.push(FILLED.has(f.name) ? { from: i, fill: f.name as Reserved } : { from: i });
  });
  if (opts.cqIdAsPk) {
    fields = fields.map((f) =>
      f.name === CQ_ID ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'true' }, false) : isPrimaryKey(f) ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'false' }) : f,
    );
  }
  return { schema: new A.Schema(fields, source.metadata), columns };
}

/** Stage: (source messages) → messages whose tables carry the reserved columns. */
export function internalColumns(opts: InternalColumnsOptions) {
  const plans = new Map<string, TablePlan>();
  const syncMicros = dateToMicros(opts.syncTime);

  const planFor = (name: string, sourceSchema: A.Schema): TablePlan => {
    let p = plans.get(name);
    if (!p || p.sourceSchema !== sourceSchema) {
      const { schema, columns } = addInternalColumns(sourceSchema, { cqIdAsPk: opts.deterministicCqId });
      const pk = primaryKeys(sourceSchema);
      // a table keyed by `_cq_id` alone gets random ids, as in CloudQuery (cloudquery/cloudquery#9845)
      p = { schema, columns, pk: pk.length === 1 && pk[0] === CQ_ID ? [] : pk, sourceSchema };
      plans.set(name, p);
    }
    return p;
  };

  /**
   * the columns that are the same in every batch of n rows (_cq_sync_time, _cq_source_name, a
   * _cq_parent_id of nulls), made once per size and shared by the batches: Arrow data is never
   * written to once made, and nothing transfers a batch's buffers away
   */
  const constants = new Map<Reserved, { n: number; data: A.Data }>();
  const constant = (name: Reserved, n: number, make: () => A.Data): A.Data => {
    const known = constants.get(name);
    if (known?.n === n) return known.data;
    const data = make();
    constants.set(name, { n, data });
    return data;
  };

  return async function* (source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    for await (const msg of source) {
      if (msg.kind === 'migrate-table') {
        yield { kind: 'migrate-table', table: planFor(tableName(msg.table), msg.table).schema };
      } else if (msg.kind === 'insert') {
        const known = plans.get(msg.table);
        if (known && known.sourceSchema.fields.length !== msg.batch.schema.fields.length) {
          throw new SchemaIncompatibleError(
            `batch of table ${msg.table} has ${msg.batch.schema.fields.length} columns, its table has ${known.sourceSchema.fields.length}`,
            { table: msg.table, phase: 'internal-columns' },
          );
        }
        const plan = known ?? planFor(msg.table, msg.batch.schema);
        const n = msg.batch.numRows;
        const ids = () => (opts.deterministicCqId && plan.pk.length > 0 ? deterministicCqIds(msg.batch, plan.pk) : randomCqIds(n));
        const cols = plan.columns.map((c) => {
          if ('from' in c) {
            const d = msg.batch.data.children[c.from]!;
            switch (c.fill) {
              case undefined:
              case CQ_PARENT_ID:
                return d;
              case CQ_SYNC_TIME:
                return fillTimestamp(d, syncMicros);
              case CQ_SOURCE_NAME:
                return fillStrings(d, () => opts.sourceName);
              case CQ_ID:
                return fillUuids(d, ids);
              default:
                return assertNever(c.fill);
            }
          }
          switch (c.make) {
            case CQ_SYNC_TIME:
              return constant(CQ_SYNC_TIME, n, () => constantTimestampData(syncMicros, n));
            case CQ_SOURCE_NAME:
              return constant(CQ_SOURCE_NAME, n, () => constantUtf8Data(opts.sourceName, n));
            case CQ_ID:
              return ids();
            case CQ_PARENT_ID:
              return constant(CQ_PARENT_ID, n, () => nullData(new A.FixedSizeBinary(16), n));
            default:
              return assertNever(c.make);
          }
        });
        yield { kind: 'insert', table: msg.table, batch: batchFromColumns(plan.schema, n, cols) };
      } else {
        yield msg;
      }
    }
  };
}
