/**
 * `Read` of a served destination (docs/plugins.md): the rows of one table, in the exact columns,
 * order and types of the schema the caller sends — a Go source's state client reads the columns
 * of its state table positionally (`key utf8, value utf8, version uint64`). Postgres tables are
 * read with cq-pipe's own postgresql source (binary COPY) and converted where the database type
 * differs from the requested one (`uint64` is stored as `numeric(20,0)`). Other destinations keep
 * nothing cq-pipe can read back: they have no `Read`.
 */
import * as A from 'apache-arrow';
import type { ConnectorContext } from '../../../lib/connector.js';
import { batchToJsonObjects } from '../../../lib/arrow-json.js';
import { nullData } from '../../../lib/arrow/index.js';
import { DestinationWriteError, SchemaIncompatibleError } from '../../../lib/errors.js';
import { RowBatchBuilder } from '../../../lib/row-builder.js';
import { batchFromColumns, tableName } from '../../../lib/schema.js';
import { MD_SOURCE_TABLE } from '../../../lib/table-select.js';

/** Rows of the table `requested` names, as batches of exactly that schema. */
export type TableReader = (requested: A.Schema, signal: AbortSignal) => AsyncIterable<A.RecordBatch>;

/** A batch in the requested columns and types: columns matched by name, converted through their values when types differ. */
export function conformTo(batch: A.RecordBatch, requested: A.Schema, table: string): A.RecordBatch {
  const byName = new Map(batch.schema.fields.map((f, i) => [f.name, i]));
  const same = requested.fields.every((f) => {
    const i = byName.get(f.name);
    return i === undefined ? f.nullable : A.util.compareTypes(batch.schema.fields[i]!.type, f.type);
  });
  if (same) {
    const n = batch.numRows;
    const cols = requested.fields.map((f) => {
      const i = byName.get(f.name);
      return i === undefined ? nullData(f.type, n) : batch.data.children[i]!;
    });
    return batchFromColumns(requested, n, cols);
  }
  const builder = new RowBatchBuilder(requested);
  for (const row of batchToJsonObjects(batch)) builder.push(row);
  try {
    return builder.finish();
  } catch (err) {
    throw new SchemaIncompatibleError(`table ${table} cannot be read as the requested schema: ${(err as Error).message}`, { table, phase: 'read' });
  }
}

interface PostgresSpec {
  connection_string: string;
  schema?: string;
}

/** The reader of a destination connector by name, or undefined when it has none. */
export function readerFor(connector: string, spec: Record<string, unknown>, ctx: ConnectorContext): TableReader | undefined {
  if (connector !== 'postgresql') return undefined;
  const pgSpec = spec as unknown as PostgresSpec;
  return async function* (requested, signal) {
    const { postgresSource } = await import('../../postgresql/source.js');
    const { pgIdent } = await import('../../postgresql/catalog.js');
    const name = tableName(requested);
    const qualified = `${pgSpec.schema ?? 'public'}.${pgIdent(name)}`;
    const client = await postgresSource.create({ connection_string: pgSpec.connection_string, batch_rows: 10000 }, ctx);
    try {
      const table = (await client.tables()).find((t) => t.metadata.get(MD_SOURCE_TABLE) === qualified);
      if (!table) {
        throw new DestinationWriteError(`table ${qualified} does not exist`, { connector: ctx.name, table: name, phase: 'read' }, undefined);
      }
      for await (const msg of client.read([table], { signal, state: new Map() })) {
        if (msg.kind === 'table-error') throw msg.error;
        if (msg.kind === 'insert' && msg.batch.numRows > 0) yield conformTo(msg.batch, requested, name);
      }
    } finally {
      await client.close?.();
    }
  };
}
