#!/usr/bin/env node
/** The cq-pipe CLI: argument parsing and dispatch only; the commands live in bin/commands/. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GLOBAL_OPTIONS, reportError } from './commands/common.js';
import { PLUGIN_OPTIONS, pluginCommand } from './commands/plugin.js';
import { UsageError } from '../lib/errors.js';
import { VERSION } from '../lib/version.js';

// Each command's module loads only when that command runs: `cq-pipe plugin <name> serve`, started
// once per sync by a CloudQuery CLI or by cq-pipe itself, loads the serve code and one connector,
// not the engine, the config loader and every other command (docs/plugins.md).

const USAGE = `cq-pipe ${VERSION} — sync tables from sources to destinations

Usage: cq-pipe <command> [options]

Commands:
  sync <config…>              every source to its destinations
      --no-migrate              skip migrations (delete-stale still runs)
      --shard n/t               run shard n of t
      --summary-location FILE   append one JSON summary line per destination
      --tables-metrics-location FILE
                                per-table rows, errors and durations, rewritten every second
      --no-progress             no live progress on stderr
  migrate <config…>           apply the DDL each destination needs
      --plan                    print the DDL, execute nothing
  read <config…>              run a source, write its stream to stdout
      --source NAME             which source (needed when the config has several)
      --format arrow|ndjson|singer
  write <config…>             read a stream (arrow, ndjson or singer) from stdin into a destination
      --destination NAME        which destination
      --source-name S           the _cq_source_name to write (default: the stream's source)
  transform <config…> | ./module.js
                              stdin stream → a transformer → stdout
      --transformer NAME        which transformer of the config
      --format arrow|ndjson|singer   output format (default: the input's)
  inspect                     pretty-print a stream from stdin
  state get|set|reset <config…> --source NAME [KEY] [VALUE]
                              read or edit a source's incremental state
  tables <config…>            list source tables, columns, types and keys
      --format text|json|markdown  --output-dir DIR  --filter all|spec
                              (json/markdown files as CloudQuery's tables command writes them)
  validate-config <config…>   check config; exit 0 or 2
  test-connection <config…>   open every source and destination; exit 0, else 1 naming which
  plugin <postgresql|file|s3|test> serve
                              serve a connector as a CloudQuery plugin (docs/plugins.md)
      --network unix|tcp --address A --log-level L --log-format json|text --kind source|destination
  plugin <connector> install <dir>
                              write <dir>/cq-pipe-<connector>, a launcher for registry: local

Options for every command:
  --log-level debug|info|warn|error   (default info)
  --log-format text|json              (default text)
  --invocation-id ID                  sync id (default: random uuid)
  --log-file-name FILE                also append log lines to FILE (--no-log-file: none)
  --log-file-overwrite                replace FILE instead of appending
  --cq-dir DIR                        CloudQuery's plugin cache (default .cq; --data-dir: the same, deprecated)
  CloudQuery's --log-console, --telemetry-level, --color and --license are accepted (docs/cloudquery.md)

Exit codes: 0 success, 1 sync failed, 2 usage or config error, 3 rows rejected (dead letter written)
`;

const COMMANDS = {
  sync: {
    options: {
      ...GLOBAL_OPTIONS,
      'no-migrate': { type: 'boolean' },
      shard: { type: 'string' },
      'summary-location': { type: 'string' },
      'tables-metrics-location': { type: 'string' },
      'no-progress': { type: 'boolean' },
    },
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/sync.js')).syncCommand(paths, { ...v, progress: !v['no-progress'] }),
  },
  migrate: {
    options: { ...GLOBAL_OPTIONS, plan: { type: 'boolean' } },
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/migrate.js')).migrateCommand(paths, v),
  },
  tables: {
    options: { ...GLOBAL_OPTIONS, format: { type: 'string' }, 'output-dir': { type: 'string' }, filter: { type: 'string' } },
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/tables.js')).tablesCommand(paths, v),
  },
  'validate-config': {
    options: GLOBAL_OPTIONS,
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/validate-config.js')).validateConfigCommand(paths, v),
  },
  'test-connection': {
    options: GLOBAL_OPTIONS,
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/test-connection.js')).testConnectionCommand(paths, v),
  },
  read: {
    options: { ...GLOBAL_OPTIONS, source: { type: 'string' }, format: { type: 'string' }, shard: { type: 'string' } },
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/read.js')).readCommand(paths, v),
  },
  write: {
    options: { ...GLOBAL_OPTIONS, destination: { type: 'string' }, 'source-name': { type: 'string' }, 'no-migrate': { type: 'boolean' } },
    run: async (paths: string[], v: Record<string, unknown>) => (await import('./commands/write.js')).writeCommand(paths, v),
  },
  transform: {
    options: { ...GLOBAL_OPTIONS, transformer: { type: 'string' }, format: { type: 'string' } },
    run: async (args: string[], v: Record<string, unknown>) => (await import('./commands/transform.js')).transformCommand(args, v),
  },
  inspect: { options: GLOBAL_OPTIONS, run: async (_paths: string[], v: Record<string, unknown>) => (await import('./commands/inspect.js')).inspectCommand(v) },
  state: {
    options: { ...GLOBAL_OPTIONS, source: { type: 'string' } },
    run: async (args: string[], v: Record<string, unknown>) => (await import('./commands/state.js')).stateCommand(args, v),
  },
  plugin: { options: PLUGIN_OPTIONS, run: (args: string[], v: Record<string, unknown>) => pluginCommand(args, v) },
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const cmd = COMMANDS[command as keyof typeof COMMANDS];
  if (!cmd) return reportError(new UsageError(`unknown command "${command}"`, `commands: ${Object.keys(COMMANDS).join(', ')} (see cq-pipe --help)`), undefined);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    const options: ParseArgsConfig['options'] = cmd.options;
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    return reportError(new UsageError((err as Error).message, `see cq-pipe --help`), undefined);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // the plugin command takes no --cq-dir and loads no config
  if (command !== 'plugin') (await import('./config.js')).usePluginDirectory((parsed.values['cq-dir'] ?? parsed.values['data-dir']) as string | undefined);
  return cmd.run(parsed.positionals, parsed.values as Record<string, unknown>);
}

// a closed stdout (| head) ends quietly
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.exitCode = reportError(err, undefined);
  },
);
