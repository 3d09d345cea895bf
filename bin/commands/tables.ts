/** `cq-pipe tables <config…> [--format json]`: the source tables with columns, types and keys. */
import { builtinRegistry, loadConfig } from '../config.js';
import { openSource } from '../../lib/pipeline.js';
import { UsageError } from '../../lib/errors.js';
import { isIncrementalTable, isPrimaryKey, isUnique, tableName } from '../../lib/schema.js';
import { typeName } from '../../lib/types.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';
import { withInternalColumns } from '../../lib/destination-plan.js';

export interface TablesOptions extends GlobalOptions {
  format?: string;
}

export async function tablesCommand(paths: string[], o: TablesOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const logger = makeLogger(o);
  try {
    if (!paths.length) throw new UsageError('tables needs at least one config file or directory');
    const format = o.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format "${format}" is not one of text, json`);
    const config = await loadConfig(paths);
    for (const s of config.secrets) logger.addSecret(s);
    const result: unknown[] = [];
    for (const source of config.sources) {
      const { tables, client } = await openSource(source, { logger, invocationId: o['invocation-id'] ?? '', syncTime: new Date(), registry: builtinRegistry });
      await client.close?.();
      // show what destinations receive first: the reserved columns included
      const schemas = withInternalColumns(tables);
      for (const [i, t] of tables.entries()) {
        const schema = schemas[i]!;
        result.push({
          source: source.name,
          table: tableName(t),
          incremental: isIncrementalTable(t),
          primary_key: schema.fields.filter(isPrimaryKey).map((f) => f.name),
          columns: schema.fields.map((f) => ({ name: f.name, type: typeName(f), not_null: !f.nullable, primary_key: isPrimaryKey(f), unique: isUnique(f) })),
        });
      }
    }
    if (format === 'json') {
      out.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      for (const t of result as {
        source: string;
        table: string;
        incremental: boolean;
        columns: { name: string; type: string; not_null: boolean; primary_key: boolean; unique: boolean }[];
      }[]) {
        out.write(`${t.source}.${t.table}${t.incremental ? ' (incremental)' : ''}\n`);
        const w = Math.max(...t.columns.map((c) => c.name.length));
        for (const c of t.columns) {
          const flags = [c.primary_key && 'primary key', c.unique && !c.primary_key && 'unique', c.not_null && !c.primary_key && 'not null']
            .filter(Boolean)
            .join(', ');
          out.write(`  ${c.name.padEnd(w)}  ${c.type}${flags ? `  (${flags})` : ''}\n`);
        }
      }
    }
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
