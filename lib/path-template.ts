/**
 * Path templates of the file and S3 destinations (docs/file-destination.md):
 *
 *   ./cq-output/{{TABLE}}/{{YEAR}}/{{MONTH}}/{{UUID}}.{{FORMAT}}
 *
 * A template is parsed once, when the destination is created: an unknown placeholder is a config
 * error naming it (with a did-you-mean), and so is a rotating template without {{UUID}} (every
 * file would overwrite the last). Rendering is then a plain string join.
 */
import { closest, distance } from 'fastest-levenshtein';
import { ConfigError, type ErrorContext } from './errors.js';

export const PATH_PLACEHOLDERS = ['TABLE', 'UUID', 'FORMAT', 'YEAR', 'MONTH', 'DAY', 'HOUR', 'MINUTE', 'SYNC_ID'] as const;
export type PathPlaceholder = (typeof PATH_PLACEHOLDERS)[number];

/** Values a template is rendered with (date parts come from `time`, in UTC). */
export interface PathValues {
  table: string;
  uuid: string;
  /** file extension without the dot, e.g. "parquet" or "ndjson.gz" */
  format: string;
  time: Date;
  syncId: string;
}

export interface ParseOptions {
  /** the template must contain {{UUID}} (true unless no_rotate) */
  requireUuid?: boolean;
  /** where the template came from, for error messages (connector, key path) */
  context?: ErrorContext;
}

type Part = string | PathPlaceholder;

export class PathTemplate {
  readonly source: string;
  readonly placeholders: ReadonlySet<PathPlaceholder>;
  readonly #parts: Part[];
  readonly #isPlaceholder: boolean[];

  constructor(source: string, parts: Part[], isPlaceholder: boolean[]) {
    this.source = source;
    this.#parts = parts;
    this.#isPlaceholder = isPlaceholder;
    this.placeholders = new Set(parts.filter((_, i) => isPlaceholder[i]) as PathPlaceholder[]);
  }

  has(p: PathPlaceholder): boolean {
    return this.placeholders.has(p);
  }

  render(v: PathValues): string {
    let out = '';
    for (let i = 0; i < this.#parts.length; i++) {
      const p = this.#parts[i]!;
      out += this.#isPlaceholder[i] ? placeholderValue(p as PathPlaceholder, v) : p;
    }
    return out;
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** A table name as one path segment: separators and NULs become "_". */
export function pathSegment(name: string): string {
  const s = name.replace(/[/\\\0]/g, '_');
  return s === '.' || s === '..' ? s.replace(/\./g, '_') : s;
}

function placeholderValue(p: PathPlaceholder, v: PathValues): string {
  switch (p) {
    case 'TABLE':
      return pathSegment(v.table);
    case 'UUID':
      return v.uuid;
    case 'FORMAT':
      return v.format;
    case 'YEAR':
      return String(v.time.getUTCFullYear()).padStart(4, '0');
    case 'MONTH':
      return pad2(v.time.getUTCMonth() + 1);
    case 'DAY':
      return pad2(v.time.getUTCDate());
    case 'HOUR':
      return pad2(v.time.getUTCHours());
    case 'MINUTE':
      return pad2(v.time.getUTCMinutes());
    case 'SYNC_ID':
      return pathSegment(v.syncId);
  }
}

const TOKEN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The directory part of a template before its first placeholder (`raw/{{TABLE}}/…` → `raw`); "" when there is none. */
export function staticDirectory(source: string): string {
  const fixed = source.split('{{')[0]!;
  const slash = fixed.lastIndexOf('/');
  return slash < 0 ? '' : fixed.slice(0, slash).replace(/\/+$/, '') || (fixed.startsWith('/') ? '/' : '');
}

/** Parse and check a template; throws ConfigError (exit 2) for what would fail or misbehave later. */
export function parsePathTemplate(source: string, opts: ParseOptions = {}): PathTemplate {
  const context = { keyPath: 'spec.path', ...opts.context };
  if (typeof source !== 'string' || source.trim() === '') {
    throw new ConfigError('path template is empty', context, 'e.g. path: "./cq-output/{{TABLE}}/{{UUID}}.{{FORMAT}}"');
  }
  if (/[/\\]$/.test(source)) {
    throw new ConfigError(`path template "${source}" names a directory, not a file`, context, `end it with a file name, e.g. "${source}{{UUID}}.{{FORMAT}}"`);
  }
  const parts: Part[] = [];
  const isPlaceholder: boolean[] = [];
  let last = 0;
  for (const m of source.matchAll(TOKEN)) {
    const name = m[1]!;
    if (!(PATH_PLACEHOLDERS as readonly string[]).includes(name)) {
      const upper = name.toUpperCase();
      const guess = (PATH_PLACEHOLDERS as readonly string[]).includes(upper) ? upper : closest(upper, [...PATH_PLACEHOLDERS]);
      const near = guess === upper || distance(upper, guess) <= Math.max(2, Math.floor(guess.length / 3));
      throw new ConfigError(
        `unknown placeholder {{${name}}} in path template "${source}"`,
        context,
        `${near ? `did you mean {{${guess}}}? ` : ''}placeholders: ${PATH_PLACEHOLDERS.map((p) => `{{${p}}}`).join(' ')}`,
      );
    }
    if (m.index! > last) {
      parts.push(source.slice(last, m.index));
      isPlaceholder.push(false);
    }
    parts.push(name as PathPlaceholder);
    isPlaceholder.push(true);
    last = m.index! + m[0].length;
  }
  if (last < source.length) {
    parts.push(source.slice(last));
    isPlaceholder.push(false);
  }
  const literal = parts.filter((_, i) => !isPlaceholder[i]).join('');
  if (literal.includes('{{') || literal.includes('}}')) {
    throw new ConfigError(`unbalanced "{{" or "}}" in path template "${source}"`, context, 'placeholders are written {{NAME}}');
  }
  const tpl = new PathTemplate(source, parts, isPlaceholder);
  if (opts.requireUuid && !tpl.has('UUID')) {
    throw new ConfigError(
      `path template "${source}" has no {{UUID}}: every batch would overwrite the same file`,
      context,
      'add {{UUID}} to the file name (e.g. "{{TABLE}}/{{UUID}}.{{FORMAT}}"), or set no_rotate: true to write one file per table',
    );
  }
  return tpl;
}
