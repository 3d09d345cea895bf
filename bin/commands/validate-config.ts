/** `cq-pipe validate-config <config…>`: exit 0 when valid, 2 otherwise. */
import { loadConfig } from '../config.js';
import { UsageError } from '../../lib/errors.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';

export async function validateConfigCommand(paths: string[], o: GlobalOptions): Promise<number> {
  const logger = makeLogger(o);
  try {
    if (!paths.length) throw new UsageError('validate-config needs at least one config file or directory');
    const c = await loadConfig(paths, { requireDestinations: true });
    process.stderr.write(`Config is valid: ${c.sources.length} source(s), ${c.destinations.length} destination(s), ${c.transformers.length} transformer(s)\n`);
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
