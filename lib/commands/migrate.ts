/**
 * `cq-pipe migrate <config…> [--plan]`: the DDL each destination needs for the source tables
 * (reserved columns and write/PK modes applied), executed — or with --plan only printed.
 */
import { loadConfig } from '../config/index.js';
import { openSource, sourceNameFor } from '../pipeline.js';
import { resolveDestination } from '../../connectors/index.js';
import { UsageError } from '../errors.js';
import { addInternalColumns } from '../../transforms/internal-columns.js';
import { rewriteSchema } from '../../transforms/write-mode.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';

export interface MigrateCommandOptions extends GlobalOptions {
  plan?: boolean;
}

export async function migrateCommand(paths: string[], o: MigrateCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const logger = makeLogger(o);
  try {
    if (!paths.length) throw new UsageError('migrate needs at least one config file or directory');
    const config = await loadConfig(paths, { requireDestinations: true });
    for (const s of config.secrets) logger.addSecret(s);
    const syncTime = new Date();
    for (const source of config.sources) {
      const { tables, client: src } = await openSource(source, { logger, invocationId: '', syncTime });
      await src.close?.();
      const withCq = tables.map((t) => addInternalColumns(t).schema);
      for (const name of source.destinations) {
        const dest = config.destinations.find((d) => d.name === name)!;
        const connector = await resolveDestination(dest.path, dest.origin.baseDir);
        const client = await connector.create(dest.spec, { name: dest.name, logger: logger.child({ plugin: dest.name }), baseDir: process.cwd(), invocationId: '', syncTime });
        try {
          const ddl = await client.migrateTables(withCq.map((t) => rewriteSchema(t, { writeMode: dest.write_mode, pkMode: dest.pk_mode })), { migrateMode: dest.migrate_mode, plan: o.plan });
          out.write(`-- ${o.plan ? 'plan for' : 'applied to'} destination ${dest.name} (source ${sourceNameFor(source)})\n`);
          out.write(ddl.length ? ddl.map((s) => s.trimEnd().replace(/;?$/, ';')).join('\n') + '\n' : '-- nothing to do\n');
          await client.close();
        } catch (err) {
          await client.close(err as Error);
          throw err;
        }
      }
    }
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
