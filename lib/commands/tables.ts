/** `cq-pipe tables <config…> [--format json]`: the source tables with columns, types and keys. */
import { loadConfig } from '../config/index.js';
import { openSource } from '../pipeline.js';
import { UsageError } from '../errors.js';
import { isIncrementalTable, isPrimaryKey, isUnique, tableName } from '../schema.js';
import { typeName } from '../types.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';
import { addInternalColumns } from '../../transforms/internal-columns.js';

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
      const { tables, client } = await openSource(source, { logger, invocationId: '', syncTime: new Date() });
      await client.close?.();
      for (const t of tables) {
        // show what destinations receive: the reserved columns included
        const schema = addInternalColumns(t).schema;
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
      for (const t of result as { source: string; table: string; incremental: boolean; columns: { name: string; type: string; not_null: boolean; primary_key: boolean; unique: boolean }[] }[]) {
        out.write(`${t.source}.${t.table}${t.incremental ? ' (incremental)' : ''}\n`);
        const w = Math.max(...t.columns.map((c) => c.name.length));
        for (const c of t.columns) {
          const flags = [c.primary_key && 'primary key', c.unique && !c.primary_key && 'unique', c.not_null && !c.primary_key && 'not null'].filter(Boolean).join(', ');
          out.write(`  ${c.name.padEnd(w)}  ${c.type}${flags ? `  (${flags})` : ''}\n`);
        }
      }
    }
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
