/**
 * The spec keys the file and s3 destinations share (path template, format, compression,
 * no_rotate): their JSON schema, the checks run at config load and at create(), and the checked
 * settings the object writer (./writer.ts) works from. docs/file-destination.md and docs/s3.md
 * describe the keys.
 */
import type { SpecProblem } from '../../lib/connector.js';
import { ConfigError } from '../../lib/errors.js';
import { parsePathTemplate, type PathTemplate } from '../../lib/path-template.js';
import { COMPRESSIONS, FILE_FORMATS, GZIP_FORMATS, formatExtension, type Compression, type FileFormat } from '../file/writers/index.js';

/** The spec keys of an object-writing destination (besides its connection and batch keys). */
export interface ObjectWriterSpec {
  path?: string;
  format?: FileFormat;
  compression?: Compression;
  no_rotate?: boolean;
}

/** JSON schema of format, compression and no_rotate (each destination adds its own `path`). */
export const OBJECT_WRITER_PROPERTIES = {
  format: { type: 'string', enum: [...FILE_FORMATS], default: 'parquet' },
  compression: { type: 'string', enum: [...COMPRESSIONS], default: 'none' },
  no_rotate: { type: 'boolean', default: false },
} as const;

/** The checked, defaulted settings of one object-writing destination. */
export interface ObjectWriterSettings {
  template: PathTemplate;
  format: FileFormat;
  compression: Compression;
  noRotate: boolean;
  /** `{{FORMAT}}`: "parquet", "ndjson.gz", … */
  extension: string;
}

/** Check a spec; `defaultPath` stands in for a missing `path`. Throws ConfigError naming the key. */
export function objectWriterSettings(spec: ObjectWriterSpec, connector: string, defaultPath: string): ObjectWriterSettings {
  const where = (key: string) => ({ connector, keyPath: `spec.${key}` });
  const format = spec.format ?? 'parquet';
  if (!(FILE_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`unknown format "${String(format)}"`, where('format'), `use one of: ${FILE_FORMATS.join(', ')}`);
  }
  const compression = spec.compression ?? 'none';
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new ConfigError(`unknown compression "${String(compression)}"`, where('compression'), `use one of: ${COMPRESSIONS.join(', ')}`);
  }
  if (compression === 'gzip' && !GZIP_FORMATS.includes(format)) {
    const why = format === 'parquet' ? 'parquet files are snappy-compressed inside the format' : 'arrow files are written uncompressed';
    const hint = `gzip applies to ${GZIP_FORMATS.join(' and ')}; ${why}, so remove compression`;
    throw new ConfigError(`compression gzip is not available for format ${format}`, where('compression'), hint);
  }
  if (spec.no_rotate !== undefined && typeof spec.no_rotate !== 'boolean') {
    throw new ConfigError('no_rotate must be true or false', where('no_rotate'));
  }
  const noRotate = spec.no_rotate ?? false;
  const template = parsePathTemplate(spec.path ?? defaultPath, { requireUuid: !noRotate, context: where('path') });
  return { template, format, compression, noRotate, extension: formatExtension(format, compression) };
}

/** A ConfigError from the checks above as a config-load problem (key path without "spec."). */
export function specProblem(err: ConfigError): SpecProblem {
  const key = (err.context.keyPath ?? 'spec').replace(/^spec\.?/, '');
  return { keyPath: key ? key.split('.') : [], message: err.message, hint: err.hint };
}
