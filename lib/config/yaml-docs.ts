/**
 * Reading config files: paths (files or directories of *.yml / *.yaml) → YAML documents that can
 * say which line a key path is on.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Document, LineCounter, Node } from 'yaml';

// the YAML parser loads with the first config read, not with the package (start-up of library users)
type Yaml = typeof import('yaml');
let yaml: Yaml | undefined;

export type KeyPath = (string | number)[];

export interface ConfigDocument {
  file: string;
  /** 1-based index in its file */
  index: number;
  value: unknown;
  /** line (1-based) of the node at a key path; for a key that is the problem, the key's own line */
  lineOf(keyPath: KeyPath): number | undefined;
}

export interface ReadProblem {
  file: string;
  document?: number;
  line?: number;
  message: string;
}

export async function expandPaths(paths: string[]): Promise<{ files: string[]; problems: ReadProblem[] }> {
  const files: string[] = [];
  const problems: ReadProblem[] = [];
  for (const p of paths) {
    let st: Awaited<ReturnType<typeof fs.stat>>;
    try {
      st = await fs.stat(p);
    } catch {
      problems.push({ file: p, message: `config path "${p}" does not exist` });
      continue;
    }
    if (st.isDirectory()) {
      const names = (await fs.readdir(p)).filter((n) => /\.ya?ml$/i.test(n)).sort();
      if (names.length === 0) problems.push({ file: p, message: `config directory "${p}" holds no .yml or .yaml files` });
      for (const n of names) files.push(path.join(p, n));
    } else {
      files.push(p);
    }
  }
  return { files, problems };
}

export async function readDocuments(file: string): Promise<{ docs: ConfigDocument[]; problems: ReadProblem[] }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return { docs: [], problems: [{ file, message: `cannot read config file: ${(err as Error).message}` }] };
  }
  const Y = (yaml ??= await import('yaml'));
  const lineCounter = new Y.LineCounter();
  const parsed = Y.parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(parsed) ? parsed : [];
  const docs: ConfigDocument[] = [];
  const problems: ReadProblem[] = [];
  let index = 0;
  for (const doc of list) {
    index++;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? (e.pos ? lineCounter.linePos(e.pos[0]).line : undefined);
        problems.push({ file, document: index, line, message: `YAML syntax error: ${e.message.split('\n')[0]}` });
      }
      continue;
    }
    // an empty document (e.g. after a trailing ---) is skipped
    if (doc.contents === null || (Y.isScalar(doc.contents) && doc.contents.value === null)) continue;
    const value = doc.toJS({ maxAliasCount: 100 });
    docs.push({ file, index, value, lineOf: (kp) => lineOf(doc, kp, lineCounter) });
  }
  return { docs, problems };
}

function lineOf(doc: Document, keyPath: KeyPath, lc: LineCounter): number | undefined {
  const { isMap, isScalar, isSeq } = yaml!;
  let node: Node | null | undefined = doc.contents as Node | null;
  let line = node?.range ? lc.linePos(node.range[0]).line : undefined;
  for (const k of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === k);
      if (!pair) return line;
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) line = lc.linePos(keyNode.range[0]).line;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof k === 'number') {
      node = node.items[k] as Node | null;
      if (node?.range) line = lc.linePos(node.range[0]).line;
    } else {
      return line;
    }
  }
  return line;
}
