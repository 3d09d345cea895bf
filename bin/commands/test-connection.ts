/**
 * `cq-pipe test-connection <config…>` (CloudQuery's `test-connection`): open every source (and list
 * its tables) and every destination, then close them. Exit 0 when every connector connects, else 1
 * naming each one that did not (docs/cloudquery.md).
 */
import { builtinRegistry, loadConfig } from '../config.js';
import { openSource } from '../../lib/pipeline.js';
import { destinationPlan } from '../../lib/destination-plan.js';
import { UsageError, toCqPipeError } from '../../lib/errors.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';

export async function testConnectionCommand(paths: string[], o: GlobalOptions): Promise<number> {
  const logger = makeLogger(o);
  try {
    if (!paths.length) throw new UsageError('test-connection needs at least one config file or directory');
    const config = await loadConfig(paths);
    for (const s of config.secrets) logger.addSecret(s);
    const ctx = { logger, invocationId: o['invocation-id'] ?? '', syncTime: new Date(), registry: builtinRegistry };
    const failed: string[] = [];
    const check = async (what: string, open: () => Promise<() => Promise<void>>) => {
      try {
        const close = await open();
        await close();
        logger.info(`${what}: connection ok`);
      } catch (err) {
        const e = toCqPipeError(err);
        failed.push(what);
        logger.error(`${what}: cannot connect: ${e.message}`, { code: e.code });
      }
    };
    for (const source of config.sources) {
      await check(`source ${source.name}`, async () => {
        const { client } = await openSource(source, ctx);
        return async () => client.close?.();
      });
    }
    for (const dest of config.destinations) {
      await check(`destination ${dest.name}`, async () => {
        const plan = await destinationPlan(dest, config, ctx);
        const client = await plan.connector.create(dest.spec, { ...ctx, name: dest.name, logger: logger.child({ plugin: dest.name }), baseDir: process.cwd() });
        return () => client.close();
      });
    }
    if (failed.length) {
      process.stderr.write(`Connection test failed: ${failed.join(', ')}\n`);
      return 1;
    }
    process.stderr.write(`Connection test succeeded: ${config.sources.length} source(s), ${config.destinations.length} destination(s)\n`);
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
