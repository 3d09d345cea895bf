/**
 * Reading config files: paths (files or directories of *.yml / *.yaml) → YAML documents that can
 * say which line a key path is on. `${…}` references are expanded in the text before it is parsed
 * (interpolate.ts); lines are those of the file as written.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Document, Node } from 'yaml';
import { REF, expandText } from './interpolate.js';
import { SECRET_KEY } from './schema.js';

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
  keyPath?: KeyPath;
  message: string;
  hint?: string;
}

export interface ReadOptions {
  env: NodeJS.ProcessEnv;
  /** `${file:}` paths resolve against it; default the working directory */
  cwd?: string;
  /** "now" for `${time:}`; default the current time */
  now?: Date;
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

export async function readDocuments(
  file: string,
  opts: ReadOptions = { env: process.env },
): Promise<{ docs: ConfigDocument[]; problems: ReadProblem[]; secrets: string[] }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    return { docs: [], problems: [{ file, message: `cannot read config file: ${(err as Error).message}` }], secrets: [] };
  }
  const Y = (yaml ??= await import('yaml'));
  const lineOfOffset = lineIndex(text);
  const expanded = expandReferences(text, opts);
  if (expanded.problems.length) return { docs: [], problems: expanded.problems.map((p) => ({ file, ...p })), secrets: [] };
  const lineAt = (offset: number) => lineOfOffset(expanded.originOf(offset));
  const parsed = Y.parseAllDocuments(expanded.text, { prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(parsed) ? parsed : [];
  const docs: ConfigDocument[] = [];
  const problems: ReadProblem[] = [];
  let index = 0;
  for (const doc of list) {
    index++;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push({ file, document: index, line: lineAt(e.pos[0]), message: `YAML syntax error: ${e.message.split('\n')[0]}` });
      continue;
    }
    // an empty document (e.g. after a trailing ---) is skipped
    if (doc.contents === null || (Y.isScalar(doc.contents) && doc.contents.value === null)) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // the yaml library refuses alias expansions that would blow up (a "billion laughs" document)
      const message = `YAML aliases expand too far: ${(err as Error).message}`;
      problems.push({ file, document: index, line: lineAt(doc.range?.[0] ?? 0), message, hint: 'write the values out, or use fewer nested aliases (*name)' });
      continue;
    }
    docs.push({ file, index, value, lineOf: (kp) => lineOf(doc, kp, lineAt) });
  }
  return { docs, problems, secrets: expanded.secrets };
}

/** 1-based line of an offset in `text` */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/**
 * Expand `${…}` in a file's text. To know where each reference sits (in a comment: left alone;
 * under which document and key: for messages and secrets) the text is parsed once with every
 * reference replaced by digits of the same length, which YAML reads as a plain number anywhere.
 */
function expandReferences(text: string, opts: ReadOptions): Omit<ReturnType<typeof expandText>, 'problems'> & { problems: Omit<ReadProblem, 'file'>[] } {
  const base = { env: opts.env, cwd: opts.cwd ?? process.cwd(), now: opts.now ?? new Date() };
  if (!text.includes('${')) return { ...expandText(text, base), problems: [] };
  const Y = yaml!;
  const placeholder = text.replace(REF, (m) => `1${'0'.repeat(m.length - 1)}`);
  const comments: [number, number][] = [];
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) for (const x of node) collect(x);
    else if (node && typeof node === 'object') {
      const t = node as { type?: string; offset?: number; source?: string };
      if (t.type === 'comment' && typeof t.offset === 'number') comments.push([t.offset, t.offset + (t.source?.length ?? 0)]);
      for (const v of Object.values(node)) if (v && typeof v === 'object') collect(v);
    }
  };
  for (const token of new Y.Parser().parse(placeholder)) collect(token);
  const docs = Y.parseAllDocuments(placeholder, { prettyErrors: false });
  const docList = Array.isArray(docs) ? docs : [];
  const where = (offset: number): { document?: number; keyPath?: KeyPath } => {
    const i = docList.findIndex((d) => d.range[0] <= offset && offset < d.range[2]);
    if (i < 0) return {};
    return { document: i + 1, keyPath: keyPathAt(docList[i]!.contents as Node | null, offset, []) };
  };
  const r = expandText(text, {
    ...base,
    skip: (offset) => comments.some(([a, b]) => a <= offset && offset < b),
    secretAt: (offset) => (where(offset).keyPath ?? []).some((k) => typeof k === 'string' && SECRET_KEY.test(k)),
  });
  const lineOfOffset = lineIndex(text);
  return { ...r, problems: r.problems.map((p) => ({ ...where(p.offset), line: lineOfOffset(p.offset), message: p.message, hint: p.hint })) };
}

/** The key path of the node at `offset` (the deepest map value or sequence item holding it). */
function keyPathAt(node: Node | null | undefined, offset: number, kp: KeyPath): KeyPath {
  const { isMap, isSeq, isScalar } = yaml!;
  const holds = (n: Node | null | undefined) => !!n?.range && n.range[0] <= offset && offset < n.range[2];
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? (pair.key.value as string | number) : String(pair.key);
      if (holds(pair.key as Node)) return [...kp, key];
      if (holds(pair.value as Node)) return keyPathAt(pair.value as Node, offset, [...kp, key]);
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) if (holds(node.items[i] as Node)) return keyPathAt(node.items[i] as Node, offset, [...kp, i]);
  }
  return kp;
}

function lineOf(doc: Document, keyPath: KeyPath, lineAt: (offset: number) => number): number | undefined {
  const { isMap, isScalar, isSeq } = yaml!;
  let node: Node | null | undefined = doc.contents as Node | null;
  let line = node?.range ? lineAt(node.range[0]) : undefined;
  for (const k of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === k);
      if (!pair) return line;
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) line = lineAt(keyNode.range[0]);
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof k === 'number') {
      node = node.items[k] as Node | null;
      if (node?.range) line = lineAt(node.range[0]);
    } else {
      return line;
    }
  }
  return line;
}
