/**
 * The spec keys the file and s3 destinations share (path template, format, compression,
 * no_rotate): their JSON schema, the checks run at config load and at create(), and the checked
 * settings the object writer (./writer.ts) works from. docs/file-destination.md and docs/s3.md
 * describe the keys.
 */
import { posix } from 'node:path';
import type { SpecProblem } from '../../lib/connector.js';
import { CSV_DELIMITERS } from '../../lib/arrow-json.js';
import { ConfigError } from '../../lib/errors.js';
import { parsePathTemplate, type PathTemplate } from '../../lib/path-template.js';
import { COMPRESSIONS, FILE_FORMATS, GZIP_FORMATS, type Compression, type FileFormat, type FormatOptions } from '../file/writers/index.js';

/** `format` as a config names it: cq-pipe's formats, and CloudQuery's `json` (JSON lines: ndjson written as `.json`). */
const SPEC_FORMATS = [...FILE_FORMATS, 'json'] as const;
type SpecFormat = (typeof SPEC_FORMATS)[number];
/** CloudQuery's `compression: ""` is no compression */
const SPEC_COMPRESSIONS = [...COMPRESSIONS, ''] as const;

/** The spec keys of an object-writing destination (besides its connection and batch keys). */
export interface ObjectWriterSpec {
  path?: string;
  format?: SpecFormat;
  format_spec?: Record<string, unknown> | null;
  compression?: Compression | '';
  no_rotate?: boolean;
}

/** JSON schema of format, format_spec, compression and no_rotate (each destination adds its own `path`). */
export const OBJECT_WRITER_PROPERTIES = {
  format: { type: 'string', enum: [...SPEC_FORMATS], default: 'parquet' },
  format_spec: { type: ['object', 'null'] },
  compression: { type: 'string', enum: [...SPEC_COMPRESSIONS], default: 'none' },
  no_rotate: { type: 'boolean', default: false },
} as const;

/** The checked, defaulted settings of one object-writing destination. */
export interface ObjectWriterSettings {
  template: PathTemplate;
  format: FileFormat;
  compression: Compression;
  noRotate: boolean;
  /** `{{FORMAT}}`: "parquet", "ndjson.gz", "json", … */
  extension: string;
  formatOptions: FormatOptions;
  /** keys accepted without effect, one line each, for the log at open */
  notices: string[];
}

/** CloudQuery's `format_spec` keys per format (its file and s3 destinations' spec/schema.json). */
const FORMAT_SPEC_KEYS: Record<string, readonly string[]> = {
  csv: ['skip_header', 'delimiter'],
  parquet: ['version', 'root_repetition', 'max_row_group_length'],
  json: [],
  ndjson: [],
  arrow: [],
};
const PARQUET_VERSIONS = ['v1.0', 'v2.4', 'v2.6', 'v2Latest'];
const ROOT_REPETITIONS = ['undefined', 'required', 'optional', 'repeated'];

function formatSpec(format: SpecFormat, raw: Record<string, unknown>, where: (key: string) => { connector: string; keyPath: string }) {
  const allowed = FORMAT_SPEC_KEYS[format] ?? [];
  for (const k of Object.keys(raw)) {
    if (!allowed.includes(k)) {
      const hint = allowed.length ? `format ${format} takes ${allowed.join(', ')}` : `format ${format} takes no format_spec keys`;
      throw new ConfigError(`unknown format_spec key "${k}" for format ${format}`, where(`format_spec.${k}`), hint);
    }
  }
  const options: FormatOptions = {};
  const notices: string[] = [];
  if (format === 'csv') {
    const delimiter = raw.delimiter ?? ',';
    if (!(CSV_DELIMITERS as readonly unknown[]).includes(delimiter)) {
      const hint = 'use one of "," ";" "\t" "|" (other characters could occur unquoted in numbers and times)';
      throw new ConfigError(`delimiter ${JSON.stringify(delimiter)} is not one cq-pipe writes`, where('format_spec.delimiter'), hint);
    }
    if (raw.skip_header !== undefined && typeof raw.skip_header !== 'boolean')
      throw new ConfigError('skip_header must be true or false', where('format_spec.skip_header'));
    options.csv = { delimiter: delimiter as (typeof CSV_DELIMITERS)[number], skipHeader: raw.skip_header === true };
  }
  if (format === 'parquet') {
    if (raw.version !== undefined && !PARQUET_VERSIONS.includes(raw.version as string)) {
      throw new ConfigError(
        `unknown parquet version ${JSON.stringify(raw.version)}`,
        where('format_spec.version'),
        `use one of ${PARQUET_VERSIONS.join(', ')}`,
      );
    }
    if (raw.root_repetition !== undefined && !ROOT_REPETITIONS.includes(raw.root_repetition as string)) {
      const hint = `use one of ${ROOT_REPETITIONS.join(', ')}`;
      throw new ConfigError(`unknown root_repetition ${JSON.stringify(raw.root_repetition)}`, where('format_spec.root_repetition'), hint);
    }
    const m = raw.max_row_group_length;
    if (m !== undefined && !(Number.isInteger(m) && (m as number) >= 0))
      throw new ConfigError('max_row_group_length must be an integer ≥ 0', where('format_spec.max_row_group_length'));
    for (const k of ['version', 'root_repetition', 'max_row_group_length']) {
      if (raw[k] !== undefined) notices.push(`format_spec.${k} is accepted and not applied: cq-pipe's Parquet writer sets it (docs/file-destination.md)`);
    }
  }
  return { options, notices };
}

/** Check a spec; `defaultPath` stands in for a missing `path`. Throws ConfigError naming the key. */
export function objectWriterSettings(spec: ObjectWriterSpec, connector: string, defaultPath: string): ObjectWriterSettings {
  const where = (key: string) => ({ connector, keyPath: `spec.${key}` });
  const specFormat = spec.format ?? 'parquet';
  if (!(SPEC_FORMATS as readonly string[]).includes(specFormat)) {
    throw new ConfigError(`unknown format "${String(specFormat)}"`, where('format'), `use one of: ${SPEC_FORMATS.join(', ')}`);
  }
  const format: FileFormat = specFormat === 'json' ? 'ndjson' : specFormat;
  if (!(SPEC_COMPRESSIONS as readonly string[]).includes(spec.compression ?? 'none')) {
    throw new ConfigError(`unknown compression "${String(spec.compression)}"`, where('compression'), `use one of: ${COMPRESSIONS.join(', ')}`);
  }
  const compression: Compression = spec.compression || 'none';
  const { options: formatOptions, notices } = formatSpec(specFormat, spec.format_spec ?? {}, where);
  if (compression === 'gzip' && !GZIP_FORMATS.includes(format)) {
    const why = format === 'parquet' ? 'parquet files are snappy-compressed inside the format' : 'arrow files are written uncompressed';
    const hint = `gzip applies to ${GZIP_FORMATS.join(' and ')}; ${why}, so remove compression`;
    throw new ConfigError(`compression gzip is not available for format ${format}`, where('compression'), hint);
  }
  if (spec.no_rotate !== undefined && typeof spec.no_rotate !== 'boolean') {
    throw new ConfigError('no_rotate must be true or false', where('no_rotate'));
  }
  const noRotate = spec.no_rotate ?? false;
  // as CloudQuery: a path without {{TABLE}} is a directory, each table a `<table>.<format>` in it
  const raw = spec.path ?? defaultPath;
  const full = raw.includes('{{TABLE}}') ? raw : posix.join(raw, `{{TABLE}}.${specFormat}`);
  const template = parsePathTemplate(full, { requireUuid: !noRotate, context: where('path') });
  const extension = compression === 'gzip' ? `${specFormat}.gz` : specFormat;
  return { template, format, compression, noRotate, extension, formatOptions, notices };
}

/** A ConfigError from the checks above as a config-load problem (key path without "spec."). */
export function specProblem(err: ConfigError): SpecProblem {
  const key = (err.context.keyPath ?? 'spec').replace(/^spec\.?/, '');
  return { keyPath: key ? key.split('.') : [], message: err.message, hint: err.hint };
}
