/** `cq-pipe inspect`: pretty-print a stream from stdin — tables, schemas, row counts, control messages. */
import { openPipeInput } from '../../lib/pipe/detect.js';
import { isPrimaryKey, tableName } from '../../lib/schema.js';
import { typeName } from '../../lib/types.js';
import { batchToJsonObjects } from '../../lib/arrow-json.js';
import type { DeleteRecordMessage } from '../../lib/messages.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';

export async function inspectCommand(
  o: GlobalOptions,
  input: AsyncIterable<Uint8Array> = process.stdin,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const logger = makeLogger(o);
  try {
    const { format, messages } = await openPipeInput(input);
    out.write(`format: ${format}\n`);
    const rows = new Map<string, { rows: number; batches: number }>();
    for await (const m of messages) {
      switch (m.kind) {
        case 'sync-start':
          out.write(`sync-start   source ${m.sourceName} at ${m.syncTime}\n`);
          break;
        case 'migrate-table':
          out.write(`table        ${tableName(m.table)}\n`);
          for (const f of m.table.fields)
            out.write(`  ${f.name.padEnd(24)} ${typeName(f)}${isPrimaryKey(f) ? '  (primary key)' : ''}${f.nullable ? '' : '  not null'}\n`);
          break;
        case 'insert': {
          const r = rows.get(m.table) ?? { rows: 0, batches: 0 };
          r.rows += m.batch.numRows;
          r.batches++;
          rows.set(m.table, r);
          break;
        }
        case 'checkpoint':
          out.write(`checkpoint   ${m.id} ${JSON.stringify(m.state)}\n`);
          break;
        case 'delete-stale':
          out.write(`delete-stale ${m.table} source ${m.sourceName} before ${m.syncTime.toISOString()}\n`);
          break;
        case 'delete-record':
          out.write(`${describeDeleteRecord(m)}\n`);
          break;
        case 'table-error':
          out.write(`table-error  ${m.table}: ${m.error.message}\n`);
          break;
        case 'sync-end':
          out.write('sync-end\n');
          break;
      }
    }
    out.write('rows:\n');
    for (const [t, r] of rows) out.write(`  ${t.padEnd(24)} ${r.rows} rows in ${r.batches} batches\n`);
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}

/**
 * `delete-record items where (id = 1 or id = 2) and (region = "eu") cascade items_children(items)`;
 * values as in NDJSON (exact), typed: `id = 1 (int64)`
 */
export function describeDeleteRecord(m: DeleteRecordMessage): string {
  const groups = m.where
    .filter((g) => g.predicates.length > 0)
    .map((g) => {
      const ps = g.predicates.map((p) => {
        const f = p.value.schema.fields[0];
        const v = f ? batchToJsonObjects(p.value)[0]?.[f.name] : undefined;
        return `${p.column} = ${JSON.stringify(v ?? null)} (${f ? typeName(f) : '?'})`;
      });
      return `(${ps.join(` ${g.grouping} `)})`;
    });
  const where = groups.length ? `where ${groups.join(' and ')}` : 'all rows';
  const cascade = m.relations.length ? ` cascade ${m.relations.map((r) => `${r.table}(${r.parent})`).join(', ')}` : '';
  return `delete-record ${m.table} ${where}${cascade}`;
}
