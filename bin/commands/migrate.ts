/**
 * `cq-pipe migrate <config…> [--plan]`: the DDL each destination needs for the source tables,
 * executed — or with --plan only printed. The schemas come from the destination's plan (reserved
 * columns, its transformers, write/PK modes), the same chain `sync` runs (lib/destination-plan.ts).
 */
import { builtinRegistry, loadConfig } from '../config.js';
import { openSource, sourceNameFor } from '../../lib/pipeline.js';
import { destinationPlan, plannedSchemas, withInternalColumns } from '../../lib/destination-plan.js';
import { UsageError } from '../../lib/errors.js';
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
    const ctx = { logger, invocationId: o['invocation-id'] ?? '', syncTime, registry: builtinRegistry };
    for (const source of config.sources) {
      const { tables, client: src } = await openSource(source, ctx);
      await src.close?.();
      const withCq = withInternalColumns(tables, { cqIdAsPk: source.deterministic_cq_id });
      for (const name of source.destinations) {
        const dest = config.destinations.find((d) => d.name === name)!;
        const plan = await destinationPlan(dest, config, ctx);
        const schemas = await plannedSchemas(plan, withCq);
        const client = await plan.connector.create(dest.spec, {
          name: dest.name,
          logger: logger.child({ plugin: dest.name }),
          baseDir: process.cwd(),
          invocationId: ctx.invocationId,
          syncTime,
        });
        try {
          const ddl = await client.migrateTables(schemas, { migrateMode: dest.migrate_mode, plan: o.plan });
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
