/**
 * `${…}` references in config text, expanded the way CloudQuery's spec reader does it
 * (docs/config.md, interpolation): as text, before the YAML is parsed, so `num_rows: ${N}` is an
 * integer and `destinations: [${D}, pg]` is a list.
 *
 *   ${file:path}       the file's contents, the path relative to the working directory
 *   ${time:when|fmt}   a time (config-time.ts)
 *   ${NAME}            the environment variable NAME; unset is an error, set to "" is ""
 *
 * References inside YAML comments are left alone (CloudQuery strips comments first). Contents of
 * `${file:}` are expanded too (time and environment references in them), as CloudQuery does.
 * Every substitution is recorded, so an offset in the expanded text maps back to the original
 * text (error messages name the line the user wrote). `@@plugins.<name>.connection` is resolved
 * later, once every destination is known (load.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { expandConfigTime } from './config-time.js';

/** A `${…}` reference (CloudQuery's pattern: anything up to the first `}`). */
export const REF = /\$\{([^}]+)\}/g;

export interface ExpandProblem {
  /** offset of the reference in the original text */
  offset: number;
  message: string;
  hint?: string;
}

export interface ExpandOptions {
  env: NodeJS.ProcessEnv;
  /** `${file:}` paths resolve against it (CloudQuery: the working directory) */
  cwd: string;
  /** "now" for `${time:}` */
  now: Date;
  /** a reference at this offset is inside a comment: left as written */
  skip?(offset: number): boolean;
  /** an environment value substituted at this offset is a secret (it sits under a secret key) */
  secretAt?(offset: number): boolean;
}

export interface Expanded {
  text: string;
  problems: ExpandProblem[];
  /** substituted values that must never be logged */
  secrets: string[];
  /** the offset in the original text of an offset in the expanded text */
  originOf(offset: number): number;
}

interface Segment {
  /** original range */
  o0: number;
  o1: number;
  /** expanded range */
  e0: number;
  e1: number;
}

/** environment variable names that hold secrets whatever key they are used under */
const SECRET_NAME = /pass(word)?|secret|token|credential|_key$|^key$|auth|dsn/i;
const PEM_BLOCK = /-----BEGIN ([^\n-]*)-----[\s\S]*?-----END \1-----/;

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * A file's text as it is inserted. One final line break is dropped (as a shell's `$(cat f)` does);
 * multi-line JSON or PEM text is escaped for a double-quoted YAML string, as CloudQuery does
 * (`private_key: "${file:./key.pem}"`); any other text goes in as it is.
 */
export function fileInsertion(content: string): string {
  const text = content.replace(/\r?\n$/, '');
  if (!/[\r\n]/.test(text)) return text;
  if (isJson(text) || PEM_BLOCK.test(text)) return JSON.stringify(text).slice(1, -1);
  return text;
}

export function expandText(text: string, opts: ExpandOptions): Expanded {
  const problems: ExpandProblem[] = [];
  const secrets: string[] = [];
  const segments: Segment[] = [];
  let out = '';
  let last = 0;

  /** the value of one reference (`inFile`: inside a file's contents, where `${file:}` is not expanded) */
  const resolveRef = (expr: string, offset: number, inFile: string | undefined): string | undefined => {
    const problem = (message: string, hint?: string) => {
      problems.push({ offset, message: inFile ? `in \${file:${inFile}}: ${message}` : message, hint });
      return undefined;
    };
    if (expr.startsWith('file:')) {
      const rel = expr.slice(5).trim();
      if (inFile) return problem(`\${file:${rel}} inside a file is not expanded`, 'reference the file from the config itself');
      const p = path.resolve(opts.cwd, rel);
      let content: string;
      try {
        content = fs.readFileSync(p, 'utf8');
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        return problem(`\${file:${rel}}: cannot read ${p}: ${why}`, 'file paths are relative to the working directory, as in CloudQuery');
      }
      const inserted = fileInsertion(content);
      if (content.trim()) secrets.push(content.replace(/\r?\n$/, ''), inserted);
      // references inside the file are expanded too (time and environment, not files)
      return inserted.replace(REF, (whole, inner: string) => resolveRef(inner, offset, rel) ?? whole);
    }
    if (expr.startsWith('time:')) {
      const r = expandConfigTime(expr.slice(5), opts.now);
      if ('error' in r)
        return problem(`\${${expr}}: ${r.error}`, 'use now, an RFC 3339 time, a date, a duration (-24h) or "3 days ago" / "2 hours from now", then |layout');
      return r.text;
    }
    const v = opts.env[expr];
    if (v === undefined) return problem(`environment variable ${expr} is not set`, `export ${expr}=… before running, or remove the reference`);
    if (v && (SECRET_NAME.test(expr) || opts.secretAt?.(offset))) secrets.push(v);
    return v;
  };

  for (const m of text.matchAll(REF)) {
    const at = m.index!;
    if (opts.skip?.(at)) continue;
    const v = resolveRef(m[1]!, at, undefined);
    if (v === undefined) continue;
    out += text.slice(last, at);
    segments.push({ o0: at, o1: at + m[0].length, e0: out.length, e1: out.length + v.length });
    out += v;
    last = at + m[0].length;
  }
  out += text.slice(last);

  const originOf = (e: number): number => {
    let delta = 0;
    for (const s of segments) {
      if (e < s.e0) break;
      if (e < s.e1) return s.o0;
      delta = s.o1 - s.e1;
    }
    return e + delta;
  };
  return { text: segments.length ? out : text, problems, secrets, originOf };
}

/** `@@plugins.<name>.connection` references in a string */
export const PLUGIN_REF = /@@plugins\.([A-Za-z0-9_.-]+?)\.connection/g;
