/**
 * The local files a table's `files` globs name (docs/file-source.md#which-files). Directory
 * symlinks are followed, but each real directory is entered once and each file (device + inode)
 * listed once, so `latest -> 2024-01` or a link to a parent reads nothing twice and a symlink
 * loop ends the walk instead of recursing. A path that names something other than a regular file
 * (a directory, a FIFO, a device) is an error saying what it is; such entries matched by a glob
 * are skipped, and said so when nothing else matches.
 */
import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { SourceReadError, type ErrorContext } from '../../lib/errors.js';

/** what a non-regular file is, for messages */
export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

export interface GlobResult {
  /** regular files, sorted, each (device + inode) once */
  files: string[];
  /** matched entries that are not regular files, or links that lead nowhere or loop: path → what it is */
  skipped: Map<string, string>;
}

const idOf = (st: fs.Stats) => `${st.dev}:${st.ino}`;

async function walkPattern(pattern: string, out: Map<string, string>, skipped: Map<string, string>, context: ErrorContext): Promise<void> {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(pattern);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return; // no match: the caller says so
      if (code === 'ELOOP') throw new SourceReadError(`${pattern} is a symlink loop`, { ...context, file: pattern }, err);
      throw new SourceReadError(`cannot read ${pattern}: ${(err as Error).message}`, { ...context, file: pattern }, err);
    }
    if (!st.isFile())
      throw new SourceReadError(
        `${pattern} is ${kindOf(st)}, not a regular file`,
        { ...context, file: pattern },
        undefined,
        st.isDirectory() ? `to read the files in it, use a glob such as ${path.join(pattern, '*.ndjson')}` : 'files must name regular files',
      );
    if (![...out.values()].includes(idOf(st))) out.set(pattern, idOf(st));
    return;
  }
  const match = picomatch(scan.glob);
  const maxDepth = scan.glob.includes('**') ? Number.POSITIVE_INFINITY : scan.glob.split('/').length;
  const seenDirs = new Set<string>();
  const seenFiles = new Set(out.values());
  const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw new SourceReadError(`cannot list ${dir}: ${(err as Error).message}`, { ...context, file: dir }, err);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(abs);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (match(r)) skipped.set(abs, code === 'ELOOP' ? 'a symlink loop' : code === 'ENOENT' ? 'a symlink to nothing' : (err as Error).message);
        continue;
      }
      if (st.isDirectory()) {
        if (match(r)) skipped.set(abs, 'a directory');
        if (depth + 1 >= maxDepth || e.name.startsWith('.')) continue;
        const id = idOf(st);
        if (seenDirs.has(id)) continue; // a link to a directory already walked (or being walked)
        seenDirs.add(id);
        await walk(abs, r, depth + 1);
      } else if (match(r)) {
        if (!st.isFile()) skipped.set(abs, kindOf(st));
        else if (!seenFiles.has(idOf(st))) {
          seenFiles.add(idOf(st));
          out.set(abs, idOf(st));
        }
      }
    }
  };
  try {
    const st = await fs.promises.stat(scan.base || '.');
    seenDirs.add(idOf(st));
  } catch {
    return; // the base does not exist: no match
  }
  await walk(scan.base || '.', '', 0);
}

/** The regular files matching any of `patterns` (absolute), sorted, each once. */
export async function globFiles(patterns: string[], context: ErrorContext = {}): Promise<GlobResult> {
  const found = new Map<string, string>();
  const skipped = new Map<string, string>();
  for (const p of patterns) await walkPattern(p, found, skipped, context);
  const byPath = [...found.keys()].sort();
  // the same file through two patterns (or two paths) is read once: the first path in sort order
  const ids = new Set<string>();
  const files = byPath.filter((f) => {
    const id = found.get(f)!;
    if (ids.has(id)) return false;
    ids.add(id);
    return true;
  });
  return { files, skipped };
}
