/**
 * `cq-pipe tables <config…> [--format text|json|markdown] [--output-dir D] [--filter all|spec]`: the
 * source tables with columns, types and keys — on stdout (text or json), or as CloudQuery's
 * documentation files under `D/<source>/` (json, or markdown, which always writes files).
 */
import path from 'node:path';
import { builtinRegistry, loadConfig } from '../config.js';
import { openSource } from '../../lib/pipeline.js';
import { UsageError } from '../../lib/errors.js';
import { isIncrementalTable, isPrimaryKey, isUnique, tableName } from '../../lib/schema.js';
import { typeName } from '../../lib/types.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';
import { withInternalColumns } from '../../lib/destination-plan.js';
import { CQ_SOURCE_NAME, CQ_SYNC_TIME } from '../../lib/schema.js';
import { writeTableDocs } from './tables-docs.js';
import type * as A from 'apache-arrow';

/** A source table as a CloudQuery source plugin reports it: `_cq_id` and `_cq_parent_id`, not the CLI's columns. */
function withSourceColumns(tables: A.Schema[]): A.Schema[] {
  return withInternalColumns(tables).map((s) => s.select(s.fields.map((f) => f.name).filter((n) => n !== CQ_SYNC_TIME && n !== CQ_SOURCE_NAME)));
}

export interface TablesOptions extends GlobalOptions {
  format?: string;
  'output-dir'?: string;
  filter?: string;
}

/** CloudQuery's default `--output-dir` */
const CQ_DOCS_DIR = 'cq-docs';

export async function tablesCommand(paths: string[], o: TablesOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const logger = makeLogger(o);
  try {
    if (!paths.length) throw new UsageError('tables needs at least one config file or directory');
    const format = o.format ?? (o['output-dir'] ? 'json' : 'text');
    if (!['text', 'json', 'markdown'].includes(format)) throw new UsageError(`--format "${format}" is not one of text, json, markdown`);
    // CloudQuery's documentation files: markdown always, json with --output-dir
    const outputDir = o['output-dir'] ?? (format === 'markdown' ? CQ_DOCS_DIR : undefined);
    if (outputDir !== undefined && format === 'text')
      throw new UsageError('--output-dir writes json or markdown files: add --format json or --format markdown');
    // CloudQuery lists every table of the plugin by default when it writes docs; the stdout listing shows the selected ones
    const filter = o.filter ?? (outputDir !== undefined ? 'all' : 'spec');
    if (filter !== 'all' && filter !== 'spec') throw new UsageError(`--filter "${filter}" is not one of all, spec`);
    const config = await loadConfig(paths);
    for (const s of config.secrets) logger.addSecret(s);
    const result: unknown[] = [];
    for (const source of config.sources) {
      const opened = await openSource(source, { logger, invocationId: o['invocation-id'] ?? '', syncTime: new Date(), registry: builtinRegistry });
      const { client } = opened;
      const tables = filter === 'all' ? await client.tables().finally(() => client.close?.()) : opened.tables;
      if (filter !== 'all') await client.close?.();
      if (outputDir !== undefined) {
        const dir = path.join(outputDir, source.name);
        const plugin = source.path.split('/').pop() ?? source.path;
        const files = await writeTableDocs(dir, plugin, withSourceColumns(tables), format === 'markdown' ? 'markdown' : 'json');
        logger.info(`wrote the docs of source ${source.name} to ${dir}`, { files: files.length });
        continue;
      }
      // show what destinations receive first: the reserved columns included
      const schemas = withInternalColumns(tables, { cqIdAsPk: source.deterministic_cq_id });
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
    if (outputDir !== undefined) return 0;
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
