/**
 * `cq-pipe state get|set|reset <config…> --source NAME [KEY] [VALUE]`: read or edit the incremental
 * state of a source in its backend. Positionals that exist on disk are config paths; the rest are
 * KEY and VALUE. `get` prints `key<TAB>value` lines (or one value); `reset` removes one key or all.
 */
import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { ConfigError, UsageError } from '../../lib/errors.js';
import { openState } from '../config.js';
import { flushState } from '../../lib/state/index.js';
import { makeLogger, reportError, type GlobalOptions, pickByName } from './common.js';

export interface StateCommandOptions extends GlobalOptions {
  source?: string;
  shard?: string;
}

export async function stateCommand(args: string[], o: StateCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const logger = makeLogger(o);
  try {
    const [action, ...rest] = args;
    if (action !== 'get' && action !== 'set' && action !== 'reset')
      throw new UsageError(
        `state needs an action: get, set or reset (got ${action === undefined ? 'nothing' : `"${action}"`})`,
        'cq-pipe state get sync.yml --source shop',
      );
    const paths = rest.filter((a) => existsSync(a));
    const [key, value, ...extra] = rest.filter((a) => !existsSync(a));
    if (!paths.length) throw new UsageError('state needs at least one config file or directory');
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    if (action === 'set' && (key === undefined || value === undefined))
      throw new UsageError('state set needs KEY and VALUE', 'cq-pipe state set sync.yml --source shop items 2024-01-01T00:00:00Z');
    const config = await loadConfig(paths);
    for (const s of config.secrets) logger.addSecret(s);
    const source = pickByName(config.sources, o.source, 'source');
    if (!source.backend_options)
      throw new ConfigError(
        `source ${source.name} has no backend_options, so it keeps no state`,
        { file: source.origin.file, document: source.origin.document, keyPath: 'spec.backend_options' },
        'add backend_options: { table_name: …, connection: … }',
      );
    if (action === 'set') {
      // a value the source could not read back is refused (docs/incremental.md)
      const connector = await config.registry?.source(source.path, source.origin.baseDir, source).catch(() => undefined);
      const problem = connector?.validateState?.(key!, value!);
      if (problem) throw new UsageError(`state set: the value for "${key}" is not a state source ${source.name} can read back: ${problem}`);
    }
    const state = await openState(source.backend_options, source.name);
    try {
      if (action === 'get') {
        if (key !== undefined) {
          const v = state.get(key);
          if (v === undefined) {
            logger.warn(`no state for key "${key}"`);
            return 1;
          }
          out.write(v + '\n');
        } else {
          for (const [k, v] of [...state.entries()].sort(([a], [b]) => a.localeCompare(b))) out.write(`${k}\t${v}\n`);
        }
      } else if (action === 'set') {
        state.set(key!, value!);
        await flushState(state, { connector: source.name });
        logger.info(`state ${key} = ${value} (${state.description})`);
      } else {
        const keys = key !== undefined ? [key] : [...state.entries().keys()];
        for (const k of keys) state.delete(k);
        await flushState(state, { connector: source.name });
        logger.info(`state reset: ${keys.length} key(s) removed (${state.description})`);
      }
    } finally {
      await state.close();
    }
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
