/**
 * Format writers of the object writer (connectors/object-writer/writer.ts: the file and s3
 * destinations): one open file or object, written batch by batch and finished (footer, gzip
 * trailer) or discarded. Each format lives in its own module; this one picks.
 */
import type * as A from 'apache-arrow';
import { FileSink } from './sink.js';
import type { ByteSink } from './byte-sink.js';
import type { CSV_DELIMITERS } from '../../../lib/arrow-json.js';
import { NdjsonWriter } from './ndjson.js';
import { CsvWriter } from './csv.js';
import { ArrowWriter } from './arrow.js';
import { ParquetWriter, warmParquetEncoder } from './parquet.js';

export const FILE_FORMATS = ['parquet', 'ndjson', 'csv', 'arrow'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];
export const COMPRESSIONS = ['none', 'gzip'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export type CsvDelimiter = (typeof CSV_DELIMITERS)[number];
/** formats that may be gzip-compressed (parquet and arrow compress inside the format) */
export const GZIP_FORMATS: readonly FileFormat[] = ['ndjson', 'csv'];

/** Per-format options (file/s3 `format_spec`). */
export interface FormatOptions {
  csv?: { delimiter: CsvDelimiter; skipHeader: boolean };
}

export interface FormatWriter {
  /** temp file (or object) being written */
  readonly path: string;
  /** rows written so far */
  readonly rows: number;
  /** append batches (same columns as the first); resolves when the bytes are accepted */
  write(batches: A.RecordBatch[]): Promise<void>;
  /** write the trailer (footer, gzip end) and close: the file is complete */
  finish(): Promise<void>;
  /** stop, close and delete the file; never throws */
  discard(): Promise<void>;
}

export function openFormatWriter(
  format: FileFormat,
  compression: Compression,
  file: string,
  schema: A.Schema,
  options: FormatOptions = {},
): Promise<FormatWriter> {
  return openFormatWriterOn(format, compression, (gzip) => FileSink.open(file, gzip), schema, options);
}

/** made ready ahead of the first file of `format` (Parquet: its encoder thread starts) */
export function prepareFormat(format: FileFormat): void {
  if (format === 'parquet') warmParquetEncoder();
}

/** A format writer into any byte sink (a temp file, an S3 upload); `openSink(gzip)` makes it. */
export async function openFormatWriterOn(
  format: FileFormat,
  compression: Compression,
  openSink: (gzip: boolean) => Promise<ByteSink>,
  schema: A.Schema,
  options: FormatOptions = {},
): Promise<FormatWriter> {
  if (format === 'parquet') return ParquetWriter.openOn(() => openSink(false), schema);
  const sink = await openSink(compression === 'gzip');
  switch (format) {
    case 'ndjson':
      return new NdjsonWriter(sink);
    case 'csv':
      return CsvWriter.open(sink, schema, options.csv ?? { delimiter: ',', skipHeader: false });
    case 'arrow':
      return new ArrowWriter(sink, schema);
  }
}
