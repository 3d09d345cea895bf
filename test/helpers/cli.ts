/** The one way tests run the CLI: `node dist/bin/cq-pipe.js …` as a child process, sync or async. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI } from './index.js';

export interface CliOptions {
  cwd?: string;
  /** added to process.env */
  env?: NodeJS.ProcessEnv;
  /** written to stdin, then closed */
  input?: string | Uint8Array;
  /** cliSpawn: leave stdin open for the caller to pipe into (default: closed at once) */
  keepStdinOpen?: boolean;
  /** cliSpawn: collect stdout into the result (default true; false when the caller pipes it on) */
  collectStdout?: boolean;
}

export interface CliResult {
  code: number | null;
  /** the same as `code` (the name spawnSync uses) */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const envOf = (o: CliOptions) => ({ ...process.env, ...o.env });

/** Run `cq-pipe …args` to completion (blocking). */
export function cliSync(args: string[], o: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: o.cwd, env: envOf(o), encoding: 'utf8', input: o.input, maxBuffer: 256 << 20 });
  return { code: r.status, status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Start `cq-pipe …args` (for signals and concurrent runs); `done` resolves when it exits. */
export function cliSpawn(args: string[], o: CliOptions = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env: envOf(o), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  if (o.collectStdout !== false)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  if (o.input !== undefined) child.stdin!.end(o.input);
  else if (!o.keepStdinOpen) child.stdin!.end();
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, status: code, signal, stdout, stderr })));
  return { child, done };
}

/** The CLI as a shell word, for pipelines: `${CLI_SHELL} read c.yml | ${CLI_SHELL} write c.yml`. */
export const CLI_SHELL = `"${process.execPath}" "${CLI}"`;

/** Run a bash command line (with pipefail) to completion, e.g. a `read | write` pipeline. */
export function shell(cmd: string, o: Omit<CliOptions, 'input'> = {}): CliResult {
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { cwd: o.cwd, env: envOf(o), encoding: 'utf8', maxBuffer: 256 << 20 });
  return { code: r.status, status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Run `cq-pipe …args` to completion without blocking the event loop. */
export function cli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return cliSpawn(args, o).done;
}
