/**
 * Readers of the file source's formats. Row formats (ndjson, json, csv) yield chunks of JS rows
 * with their line numbers, which lib/row-builder.ts turns into Arrow batches; columnar formats
 * (parquet, arrow) yield Arrow batches in the file's own schema.
 */
import type * as A from 'apache-arrow';
import { ndjsonFormat } from './ndjson.js';
import { jsonFormat } from './json.js';
import { csvFormat } from './csv.js';
import { parquetFormat } from './parquet.js';
import { arrowFormat } from './arrow.js';
import type { InputFile } from '../inputs.js';

export const FILE_FORMATS = ['ndjson', 'json', 'csv', 'parquet', 'arrow'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

export interface CsvOptions {
  delimiter: string;
  quote: string;
  escape: string;
  header: boolean;
  /** column names when header is false */
  column_names?: string[];
}

export interface RowChunk {
  rows: Record<string, unknown>[];
  /** per row: the 1-based line (ndjson, csv) or 0-based array index (json) */
  lines: number[];
}

export interface ReadContext {
  signal: AbortSignal;
  csv: CsvOptions;
  /** stop after this many rows (schema inference reads a sample) */
  limit?: number;
}

export interface RowFormat {
  kind: 'rows';
  /** values are strings to be interpreted (csv) */
  text: boolean;
  /** how `lines` are named in errors */
  position: 'line' | 'element';
  read(file: InputFile, ctx: ReadContext): AsyncIterable<RowChunk>;
  /**
   * The records of the file as it holds them, each with its position (`lines` of read()), in order:
   * read again only for rows that go to a dead-letter file (../raw-records.ts), so read() keeps no text.
   */
  raw(file: InputFile, ctx: ReadContext): AsyncIterable<RawRecord>;
}

/** one record's text and its position (line or element, as RowChunk.lines) */
export interface RawRecord {
  pos: number;
  raw: string;
}

export interface ColumnarFormat {
  kind: 'columnar';
  schema(file: InputFile): Promise<A.Schema>;
  read(file: InputFile, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch>;
}

export type Format = RowFormat | ColumnarFormat;

export const FORMATS: Record<FileFormat, Format> = {
  ndjson: ndjsonFormat,
  json: jsonFormat,
  csv: csvFormat,
  parquet: parquetFormat,
  arrow: arrowFormat,
};

const BY_EXTENSION: Record<string, FileFormat> = {
  ndjson: 'ndjson',
  jsonl: 'ndjson',
  json: 'json',
  csv: 'csv',
  tsv: 'csv',
  parquet: 'parquet',
  pq: 'parquet',
  arrow: 'arrow',
  arrows: 'arrow',
  ipc: 'arrow',
  feather: 'arrow',
};

/** the format a file name implies (`items.ndjson.gz` → ndjson), if any */
export function formatFromName(file: string): FileFormat | undefined {
  const m = /\.([a-z0-9]+)(?:\.gz)?$/i.exec(file);
  return m ? BY_EXTENSION[m[1]!.toLowerCase()] : undefined;
}

export { openText } from './open-text.js';
