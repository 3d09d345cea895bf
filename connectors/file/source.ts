/**
 * The `file` source (docs/file-source.md): tables from local files matched by globs, in ndjson, json, csv,
 * parquet or arrow. Row formats take explicit `columns` or infer them from a sample; Parquet and
 * Arrow keep their own schema. A malformed record or a value that does not fit its column fails
 * its table (a table-error naming file and line); other tables continue. When a destination has a
 * dead-letter file (ReadOptions.rejectUnconvertible), a row whose value does not fit is sent in a
 * `rejected-rows` message instead, with its record, file and line.
 */
import path from 'node:path';
import * as A from 'apache-arrow';
import { realignedBitmap, validTest } from '../../lib/arrow/bitmap.js';
import { TS_INFINITY, TS_NEG_INFINITY } from '../../lib/arrow/time.js';
import { makeDataOf } from '../../lib/arrow/data.js';
import { defineSource, type ConnectorContext, type SourceClient, type SpecProblem } from '../../lib/connector.js';
import { SourceDataError, SourceReadError, toCqPipeError, CqPipeError, tableFailure } from '../../lib/errors.js';
import type { SyncMessage } from '../../lib/messages.js';
import { RowBatchBuilder, ValueError } from '../../lib/row-builder.js';
import { inferColumns } from '../../lib/infer.js';
import {
  MD_INCREMENTAL,
  MD_PRIMARY_KEY,
  MD_TABLE_INCREMENTAL,
  MD_TABLE_NAME,
  defineTable,
  relabel,
  tableName,
  withFieldMetadata,
  type ColumnDef,
} from '../../lib/schema.js';
import { parseColumnType, TYPE_NAMES, dataTypeName } from '../../lib/types.js';
import { atOrPast, fileStateProblem, maxOf, parseFileState } from './incremental.js';
import { localFile, type InputFile } from './inputs.js';
import { globFiles } from './local-glob.js';
import { deepest, isStackOverflow } from './nesting.js';
import { RawRecords } from './raw-records.js';
import { FILE_FORMATS, FORMATS, formatFromName, openText, type CsvOptions, type FileFormat, type Format, type RowFormat } from './formats/index.js';
import { readHead, rowsInThread, rowsInWorker, rowWorkerMode, SMALL_INPUT_BYTES, type Head } from './formats/row-thread.js';
import type { RejectedAt } from './formats/row-worker.js';

export interface FileTableSpec {
  name: string;
  files: string | string[];
  format?: FileFormat;
  primary_key?: string[];
  columns?: ColumnDef[];
  infer_rows?: number;
  csv?: Partial<CsvOptions>;
  /** true: skip files already loaded (same path, mtime and size); {cursor}: also keep only rows at or past the saved cursor */
  incremental?: boolean | { cursor: string };
}

export interface FileSourceSpec {
  tables: FileTableSpec[];
  batch_rows?: number;
}

const columnSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type'],
  properties: {
    name: { type: 'string', minLength: 1 },
    type: { type: 'string', minLength: 1 },
    not_null: { type: 'boolean' },
    primary_key: { type: 'boolean' },
    unique: { type: 'boolean' },
  },
} as const;

/** The JSON schema of a file source spec (the s3 source extends it). */
export const fileSourceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tables'],
  properties: {
    batch_rows: { type: 'integer', minimum: 1, default: 10000 },
    tables: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'files'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' },
          files: {
            anyOf: [
              { type: 'string', minLength: 1 },
              { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
            ],
          },
          format: { type: 'string', enum: [...FILE_FORMATS] },
          primary_key: { type: 'array', items: { type: 'string', minLength: 1 } },
          columns: { type: 'array', minItems: 1, items: columnSchema },
          infer_rows: { type: 'integer', minimum: 1, default: 1000 },
          incremental: {
            anyOf: [
              { type: 'boolean' },
              { type: 'object', additionalProperties: false, required: ['cursor'], properties: { cursor: { type: 'string', minLength: 1 } } },
            ],
          },
          csv: {
            type: 'object',
            additionalProperties: false,
            properties: {
              delimiter: { type: 'string', minLength: 1, default: ',' },
              quote: { type: 'string', maxLength: 1, default: '"' },
              escape: { type: 'string', maxLength: 1, default: '"' },
              header: { type: 'boolean', default: true },
              column_names: { type: 'array', items: { type: 'string', minLength: 1 } },
            },
          },
        },
      },
    },
  },
} as const;

/** Checks of a file source spec beyond its schema (the s3 source reuses them). */
export function validateFileSource(spec: FileSourceSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const names = new Set<string>();
  spec.tables.forEach((t, i) => {
    if (names.has(t.name)) problems.push({ keyPath: ['tables', i, 'name'], message: `table "${t.name}" is defined twice` });
    names.add(t.name);
    const patterns = Array.isArray(t.files) ? t.files : [t.files];
    if (!t.format && patterns.some((p) => !formatFromName(p))) {
      problems.push({
        keyPath: ['tables', i, 'format'],
        message: `cannot tell the format of "${patterns.find((p) => !formatFromName(p))}" from its name`,
        hint: `set format: one of ${FILE_FORMATS.join(', ')}`,
      });
    }
    const format = t.format ?? formatFromName(patterns[0]!);
    if (t.columns && (format === 'parquet' || format === 'arrow')) {
      problems.push({ keyPath: ['tables', i, 'columns'], message: `${format} files carry their own schema; columns is only for ndjson, json and csv` });
    }
    t.columns?.forEach((c, j) => {
      try {
        parseColumnType(c.type as string);
      } catch (err) {
        problems.push({
          keyPath: ['tables', i, 'columns', j, 'type'],
          message: `unknown column type "${c.type}": ${(err as Error).message}`,
          hint: `types: ${TYPE_NAMES.join(', ')}`,
        });
      }
    });
    const colNames = t.columns?.map((c) => c.name);
    t.primary_key?.forEach((k, j) => {
      if (colNames && !colNames.includes(k))
        problems.push({ keyPath: ['tables', i, 'primary_key', j], message: `primary key column "${k}" is not among the columns` });
    });
    if (t.csv?.header === false && !t.csv.column_names && !t.columns) {
      problems.push({ keyPath: ['tables', i, 'csv', 'column_names'], message: 'a CSV without a header needs csv.column_names or columns' });
    }
  });
  return problems;
}

/** Timestamps of any unit or zone → µs UTC (the engine's one timestamp type); tz-less means UTC. */
function normalizeField(f: A.Field): A.Field {
  if (f.type.typeId === A.Type.Timestamp) {
    const t = f.type as A.Timestamp;
    if (t.unit !== A.TimeUnit.MICROSECOND || t.timezone !== 'UTC') return new A.Field(f.name, new A.TimestampMicrosecond('UTC'), f.nullable, f.metadata);
  }
  return f;
}

/**
 * A timestamp column of another unit → µs; the ±infinity sentinels stay sentinels, and an instant µs
 * cannot hold (past year 294246 in s or ms) fails the column rather than wrap.
 */
function normalizeColumn(data: A.Data, from: A.DataType, to: A.Field): A.Data {
  if (from.typeId !== A.Type.Timestamp || from === to.type) return data;
  const unit = (from as A.Timestamp).unit;
  if (unit === A.TimeUnit.MICROSECOND) return data.clone(to.type);
  const src = data.values as unknown as BigInt64Array;
  const out = new BigInt64Array(data.length);
  const mul = unit === A.TimeUnit.MILLISECOND ? 1000n : 1_000_000n;
  const valid = validTest(data);
  for (let i = 0; i < data.length; i++) {
    const v = src[i]!; // fixed-width values are sliced with the Data
    if (v === TS_INFINITY || v === TS_NEG_INFINITY) out[i] = v;
    else if (unit === A.TimeUnit.NANOSECOND) out[i] = v / 1000n;
    else {
      const us = v * mul;
      if ((us > TS_INFINITY || us < TS_NEG_INFINITY) && (!valid || valid(i)))
        throw new SourceDataError(`column "${to.name}": ${v} ${unit === A.TimeUnit.SECOND ? 's' : 'ms'} is beyond the µs timestamp range`, {
          column: to.name,
        });
      out[i] = BigInt.asIntN(64, us);
    }
  }
  return makeDataOf({ type: to.type, length: data.length, nullCount: data.nullCount, nullBitmap: realignedBitmap(data), data: out });
}

/** a type that holds an interval, at any depth: Parquet INTERVAL arrives without its months (arrow-rs), so none is read */
function hasInterval(t: A.DataType): boolean {
  return t.typeId === A.Type.Interval || (t.children ?? []).some((c) => hasInterval(c.type));
}

function sameShape(a: A.Schema, b: A.Schema): string | undefined {
  if (a.fields.length !== b.fields.length) return `has ${b.fields.length} columns, the table has ${a.fields.length}`;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i]!;
    const y = normalizeField(b.fields[i]!);
    if (x.name !== y.name) return `column ${i + 1} is "${y.name}", expected "${x.name}"`;
    if (!A.util.compareTypes(x.type, y.type)) return `column "${x.name}" is ${dataTypeName(y.type)}, expected ${dataTypeName(x.type)}`;
  }
  return undefined;
}

/** a few file names, for messages */
function describeFiles(files: InputFile[]): string {
  const names = files.slice(0, 3).map((f) => f.name);
  return files.length > 3 ? `${names.join(', ')} and ${files.length - 3} more` : names.join(', ');
}

interface TablePlan {
  /** warned about columns missing from the schema */
  warned?: boolean;
  spec: FileTableSpec;
  format: Format;
  files: InputFile[];
  schema?: A.Schema;
  /** why the table cannot be read (its files cannot be listed, or its columns cannot be inferred): it alone fails */
  error?: CqPipeError;
  /** the file the schema is being taken from (errors of inference name it) */
  reading?: InputFile;
}

/**
 * Where a table's files come from: the inputs matching its `files` patterns, in a stable order
 * (local globs here, S3 key globs in connectors/s3/source.ts).
 */
export interface FileLister {
  list(table: FileTableSpec): Promise<InputFile[]>;
  /** where relative patterns point, for "no files match" messages */
  describe(table: FileTableSpec): string;
}

/**
 * Local files matched by the table's globs (./local-glob.ts), relative patterns against `baseDir`;
 * each file once, even when symlinks lead to it twice.
 */
export function localLister(baseDir: string, connector?: string): FileLister {
  return {
    async list(t) {
      const patterns = (Array.isArray(t.files) ? t.files : [t.files]).map((p) => (path.isAbsolute(p) ? p : path.join(baseDir, p)).split(path.sep).join('/'));
      const { files, skipped } = await globFiles(patterns, { connector, table: t.name });
      if (files.length === 0 && skipped.size > 0) {
        const [first, what] = [...skipped][0]!;
        throw new SourceReadError(
          `${JSON.stringify(t.files)} matches no regular file: ${first} is ${what}${skipped.size > 1 ? ` (and ${skipped.size - 1} more like it)` : ''}`,
          { connector, table: t.name, file: first },
        );
      }
      return files.map(localFile);
    },
    describe: () => `relative to ${baseDir}`,
  };
}

/**
 * The table logic of the file source over any FileLister: formats, inference, row building,
 * incremental state (keyed by InputFile.name, compared by InputFile.signature) and file sharding.
 */
export function createFileTableSource(spec: FileSourceSpec, ctx: ConnectorContext, lister: FileLister): SourceClient {
  const batchRows = spec.batch_rows ?? 10000;
  const csvOf = (t: FileTableSpec): CsvOptions => ({ delimiter: ',', quote: '"', escape: '"', header: true, ...t.csv });
  let plans: Promise<TablePlan[]> | undefined;

  const resolveFiles = (t: FileTableSpec): Promise<InputFile[]> => lister.list(t);

  const schemaOf = async (plan: TablePlan): Promise<A.Schema> => {
    const t = plan.spec;
    const pk = new Set(t.primary_key ?? []);
    const incremental = t.incremental !== undefined && t.incremental !== false;
    const cursor = typeof t.incremental === 'object' ? t.incremental.cursor : undefined;
    if (t.columns) {
      return defineTable({
        name: t.name,
        incremental,
        columns: t.columns.map((c) => ({ ...c, primary_key: c.primary_key || pk.has(c.name), incremental: c.name === cursor })),
      });
    }
    if (plan.files.length === 0) {
      throw new SourceReadError(
        `no files match ${JSON.stringify(t.files)} (${lister.describe(t)}), so the columns cannot be inferred`,
        { connector: ctx.name, table: t.name },
        undefined,
      );
    }
    let columns: ColumnDef[];
    if (plan.format.kind === 'columnar') {
      plan.reading = plan.files[0]!;
      const own = await plan.format.schema(plan.files[0]!);
      const fields = own.fields.map((f) => {
        const n = normalizeField(f);
        return pk.has(f.name) ? withFieldMetadata(n, { [MD_PRIMARY_KEY]: 'true' }, false) : n;
      });
      const missing = [...pk].find((k) => !own.fields.some((f) => f.name === k));
      if (missing)
        throw new SourceReadError(`primary key column "${missing}" is not in ${plan.files[0]!.name}`, {
          connector: ctx.name,
          table: t.name,
          file: plan.files[0]!.name,
        });
      if (cursor && !fields.some((f) => f.name === cursor))
        throw new SourceReadError(`incremental cursor "${cursor}" is not a column of ${plan.files[0]!.name}`, {
          connector: ctx.name,
          table: t.name,
          file: plan.files[0]!.name,
        });
      const md = new Map([[MD_TABLE_NAME, t.name]]);
      if (incremental) md.set(MD_TABLE_INCREMENTAL, 'true');
      return new A.Schema(
        fields.map((f) => (f.name === cursor ? withFieldMetadata(f, { [MD_INCREMENTAL]: 'true' }) : f)),
        md,
      );
    }
    const sample: Record<string, unknown>[] = [];
    /** per file read: where its sample rows start, and their lines */
    const from: { file: InputFile; start: number; lines: number[] }[] = [];
    const limit = t.infer_rows ?? 1000;
    for (const file of plan.files) {
      plan.reading = file;
      const at = { file, start: sample.length, lines: [] as number[] };
      from.push(at);
      for await (const chunk of plan.format.read(file, { signal: new AbortController().signal, csv: csvOf(t), limit: limit - sample.length })) {
        sample.push(...chunk.rows);
        at.lines.push(...chunk.lines);
      }
      if (sample.length >= limit) break;
    }
    plan.reading = undefined;
    let inferred: ReturnType<typeof inferColumns>;
    try {
      inferred = inferColumns(sample, plan.format.text);
    } catch (err) {
      if (!isStackOverflow(err)) throw err;
      const { index, depth } = deepest(sample);
      const at = from.findLast((x) => x.start <= index)!;
      const pos = at.lines[index - at.start];
      throw new SourceDataError(
        `a record nested ${depth} levels deep is too deep to read`,
        plan.format.position === 'line' ? { table: t.name, file: at.file.name, line: pos } : { table: t.name, file: at.file.name, row: pos },
        err,
      );
    }
    columns = inferred.map((c) => ({ name: c.name, type: c.type, primary_key: pk.has(c.name), incremental: c.name === cursor }));
    if (cursor && !columns.some((c) => c.name === cursor))
      throw new SourceReadError(`incremental cursor "${cursor}" does not appear in the first ${sample.length} rows`, { connector: ctx.name, table: t.name });
    if (columns.length === 0)
      throw new SourceReadError(
        `no rows to infer the columns from: ${describeFiles(plan.files)} ${plan.files.length === 1 ? 'has' : 'have'} no rows (empty, or a header only); ` +
          'set columns explicitly',
        {
          connector: ctx.name,
          table: t.name,
        },
      );
    const missing = [...pk].find((k) => !columns.some((c) => c.name === k));
    if (missing)
      throw new SourceReadError(
        `primary key column "${missing}" does not appear in the first ${sample.length} rows`,
        { connector: ctx.name, table: t.name },
        undefined,
      );
    return defineTable({ name: t.name, columns, incremental });
  };

  /**
   * Every table's files and schema. A table whose files cannot be listed or whose columns cannot
   * be inferred (no file, an empty or header-only file, a damaged first file) keeps its error and
   * an empty schema: read() fails that table first, before any row, and the others go on.
   */
  const getPlans = (): Promise<TablePlan[]> => {
    plans ??= Promise.all(
      spec.tables.map(async (t) => {
        const format = FORMATS[t.format ?? formatFromName(Array.isArray(t.files) ? t.files[0]! : t.files)!];
        const plan: TablePlan = { spec: t, format, files: [] };
        try {
          plan.files = await resolveFiles(t);
          plan.schema = await schemaOf(plan);
        } catch (err) {
          // whatever went wrong while a file was read for the schema is that file's damage, typed and named
          const file = plan.reading?.name;
          const e =
            err instanceof CqPipeError
              ? err
              : file
                ? new SourceDataError(`cannot take the columns from ${file}: ${String((err as Error)?.message ?? err)}`, { table: t.name, file }, err)
                : toCqPipeError(err, { table: t.name });
          e.context.table ??= t.name;
          e.context.connector ??= ctx.name;
          if (file) e.context.file ??= file;
          plan.error = tableFailure(e);
          plan.schema = new A.Schema([], new Map([[MD_TABLE_NAME, t.name]]));
          ctx.logger.debug(`table ${t.name} cannot be read: ${e.message}`, { table: t.name });
        }
        return plan;
      }),
    );
    return plans;
  };

  /** the error for a batch whose conversion overflowed the stack: the file is read again to find the batch's deepest record */
  async function tooDeep(format: RowFormat, input: InputFile, t: FileTableSpec, table: string, first: number, last: number, cause: unknown) {
    let best = { depth: -1, pos: first };
    for await (const chunk of format.read(input, { signal: new AbortController().signal, csv: csvOf(t) })) {
      const { index, depth } = deepest(chunk.rows.filter((_, i) => chunk.lines[i]! >= first && chunk.lines[i]! <= last));
      const inRange = chunk.lines.filter((l) => l >= first && l <= last);
      if (depth > best.depth) best = { depth, pos: inRange[index]! };
      if ((chunk.lines[chunk.lines.length - 1] ?? 0) >= last) break;
    }
    const where = format.position === 'line' ? { table, file: input.name, line: best.pos } : { table, file: input.name, row: best.pos };
    return new SourceDataError(`a record nested ${best.depth} levels deep is too deep to convert`, where, cause);
  }

  /** the `rejected-rows` message of rows left out of a batch, with their records as the file holds them */
  async function rejectedRows(raws: RawRecords, file: string, format: RowFormat, table: string, rejected: RejectedAt[]): Promise<SyncMessage> {
    const texts = await raws.get(rejected.map((r) => r.position));
    const rows = rejected.map((r, k) => ({
      raw: texts[k]!,
      file,
      ...(format.position === 'line' ? { line: r.position } : { element: r.position }),
      column: r.column,
      reason: r.reason,
    }));
    return { kind: 'rejected-rows', table, rows };
  }

  /**
   * Rows to SyncMessages. With `reject` (a destination has a dead-letter file) a row whose value does
   * not fit its column is left out of its batch and sent, with its record as the file holds it, in a
   * `rejected-rows` message after the batch; without, it fails the table.
   */
  async function* readRows(
    plan: TablePlan,
    format: RowFormat,
    schema: A.Schema,
    signal: AbortSignal,
    input: InputFile,
    reject: boolean,
  ): AsyncIterable<SyncMessage> {
    const file = input.name;
    const t = plan.spec;
    const name = tableName(schema);
    const known = new Set(schema.fields.map((f) => f.name));
    const raws = reject ? new RawRecords(() => format.raw(input, { signal, csv: csvOf(t) })) : undefined;
    const mode = rowWorkerMode();
    const byFormat = mode === 'off' ? undefined : format === FORMATS.ndjson ? 'ndjson' : format === FORMATS.csv ? 'csv' : undefined;
    let head: Head | undefined;
    try {
      if (byFormat) head = await readHead(openText(input), mode === 'auto' ? SMALL_INPUT_BYTES : 0);
      if (byFormat && head && !head.small) {
        // parsed and built on the row worker (formats/row-thread.ts): the same batches, errors and warnings
        const events = rowsInWorker(head, {
          format: byFormat,
          file,
          table: name,
          schema,
          text: format.text,
          batchRows,
          csv: csvOf(t),
          reject,
          signal,
        });
        for await (const ev of events) {
          if (ev.t === 'extra') {
            if (!plan.warned) {
              plan.warned = true;
              ctx.logger.warn(`table ${name}: ${file} has a column "${ev.column}" that is not in the table's columns; it is ignored`, { table: name });
            }
          } else if (ev.t === 'too-deep') {
            throw await tooDeep(format, input, t, name, ev.first, ev.last, ev.cause);
          } else {
            if (!raws || ev.batch.numRows > 0) yield { kind: 'insert', table: name, batch: ev.batch };
            if (raws && ev.rejected?.length) yield await rejectedRows(raws, file, format, name, ev.rejected);
          }
        }
        return;
      }
      const builder = new RowBatchBuilder(schema, format.text);
      let lines: number[] = [];
      /** the batch, then the rows it left out (with a dead-letter file) */
      const batches = async function* (): AsyncIterable<SyncMessage> {
        if (!raws) {
          yield { kind: 'insert', table: name, batch: await flush() };
          return;
        }
        const at = lines;
        const { batch, rejected } = await convert(() => builder.finishRejecting());
        if (batch.numRows > 0) yield { kind: 'insert', table: name, batch };
        if (!rejected.length) return;
        yield await rejectedRows(
          raws,
          file,
          format,
          name,
          rejected.map((r) => ({ position: at[r.index]!, column: r.column, reason: r.reason })),
        );
      };
      const flush = (): Promise<A.RecordBatch> => convert(() => builder.finish());
      const convert = async <R>(finish: () => R): Promise<R> => {
        try {
          return finish();
        } catch (err) {
          if (isStackOverflow(err)) throw await tooDeep(format, input, t, name, lines[0] ?? 0, lines[lines.length - 1] ?? 0, err);
          if (!(err instanceof ValueError)) throw err;
          const pos = lines[err.index];
          throw new SourceDataError(
            err.message,
            format.position === 'line' ? { table: name, file, line: pos, column: err.column } : { table: name, file, row: pos, column: err.column },
          );
        }
      };
      let checked = 0;
      const chunks = byFormat && head ? rowsInThread(byFormat, head, file, { signal, csv: csvOf(t) }) : format.read(input, { signal, csv: csvOf(t) });
      for await (const chunk of chunks) {
        if (!plan.warned && checked < 100) {
          for (const row of chunk.rows.slice(0, 100 - checked)) {
            const extra = Object.keys(row).find((k) => !known.has(k));
            if (extra !== undefined && !plan.warned) {
              plan.warned = true;
              ctx.logger.warn(`table ${name}: ${file} has a column "${extra}" that is not in the table's columns; it is ignored`, { table: name });
            }
          }
          checked += chunk.rows.length;
        }
        const rows = chunk.rows;
        for (let i = 0; i < rows.length; i++) {
          builder.push(rows[i]!);
          lines.push(chunk.lines[i]!);
          if (builder.length >= batchRows) {
            yield* batches();
            lines = [];
          }
        }
        if (signal.aborted) return;
      }
      if (builder.length > 0) yield* batches();
    } finally {
      head?.destroy();
      await raws?.close();
    }
  }

  async function* readColumnar(plan: TablePlan, schema: A.Schema, signal: AbortSignal, input: InputFile): AsyncIterable<SyncMessage> {
    const file = input.name;
    const name = tableName(schema);
    {
      if (plan.format.kind !== 'columnar') return;
      const own = await plan.format.schema(input);
      const interval = own.fields.find((f) => hasInterval(f.type));
      if (interval)
        throw new SourceDataError(
          `column "${interval.name}" is an interval (${String(interval.type)}), which cq-pipe does not read: ` +
            'Parquet readers drop its months; cast it to text or a number of seconds',
          { table: name, file, column: interval.name },
        );
      const mismatch = sameShape(schema, own);
      if (mismatch) throw new SourceDataError(`schema differs from the table's (taken from ${plan.files[0]!.name}): ${mismatch}`, { table: name, file });
      const needsCast = own.fields.some((f, i) => f.type.typeId === A.Type.Timestamp && !A.util.compareTypes(f.type, schema.fields[i]!.type));
      for await (const batch of plan.format.read(input, { signal, csv: csvOf(plan.spec), batchRows })) {
        let b = batch;
        if (needsCast) {
          let children: A.Data[];
          try {
            children = schema.fields.map((f, i) => normalizeColumn(batch.data.children[i]!, own.fields[i]!.type, f));
          } catch (err) {
            // a value of the file (one a damaged file may hold) that does not fit: name the file
            if (err instanceof CqPipeError) Object.assign(err.context, { table: name, file, ...err.context });
            throw err;
          }
          b = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: batch.numRows, nullCount: 0, children }));
        } else {
          b = relabel(batch, schema);
        }
        if (b.numRows > 0) yield { kind: 'insert', table: name, batch: b };
        if (signal.aborted) return;
      }
    }
  }

  return {
    // --shard n/t splits files (across all selected tables), not just tables
    shardsItself: true,
    async tables() {
      return (await getPlans()).map((p) => p.schema!);
    },
    async *read(tables, opts): AsyncIterable<SyncMessage> {
      const all = await getPlans();
      let unit = 0;
      const mine = (): boolean => !opts.shard || unit++ % opts.shard.total === opts.shard.num - 1;
      // tables that cannot be read fail first, before any row (their empty schema is then never migrated)
      for (const schema of tables) {
        const plan = all.find((p) => p.spec.name === tableName(schema));
        if (plan?.error) yield { kind: 'table-error', table: plan.spec.name, error: plan.error };
      }
      for (const schema of tables) {
        const name = tableName(schema);
        const plan = all.find((p) => p.spec.name === name);
        if (!plan || plan.error) continue;
        try {
          const inc = plan.spec.incremental;
          const cursor = typeof inc === 'object' ? inc.cursor : undefined;
          const saved = inc ? parseFileState(opts.state.get(name), name) : { files: {} };
          let maxCursor = saved.cursor;
          for (const file of plan.files) {
            if (!mine()) continue;
            const sig = inc ? await file.signature() : '';
            if (inc && saved.files[file.name] === sig) continue; // loaded by an earlier sync, unchanged
            const messages =
              plan.format.kind === 'rows'
                ? readRows(plan, plan.format, schema, opts.signal, file, opts.rejectUnconvertible === true)
                : readColumnar(plan, schema, opts.signal, file);
            for await (const m of messages) {
              if (m.kind !== 'insert' || !cursor) {
                yield m;
                continue;
              }
              for (const part of atOrPast(m.batch, cursor, saved.cursor)) {
                maxCursor = maxOf(maxCursor, part.max);
                yield { kind: 'insert', table: name, batch: part.batch };
              }
            }
            if (opts.signal.aborted) return;
            if (inc) {
              saved.files[file.name] = sig;
              // durable once every row before it is committed: the file is then skipped next time
              yield {
                kind: 'checkpoint',
                id: `${name}:${file.name}`,
                table: name,
                state: { [name]: JSON.stringify({ files: saved.files, ...(maxCursor !== undefined ? { cursor: maxCursor } : {}) }) },
              };
            }
          }
        } catch (err) {
          if (opts.signal.aborted) return;
          const e = err instanceof CqPipeError ? err : toCqPipeError(err, { table: name });
          e.context.table ??= name;
          e.context.connector ??= ctx.name;
          yield { kind: 'table-error', table: name, error: tableFailure(e) };
        }
      }
    },
  };
}

export const fileSource = defineSource<FileSourceSpec>({
  name: 'file',
  configSchema: fileSourceSchema,
  validate: validateFileSource,
  validateState: (_key, value) => fileStateProblem(value),
  create(spec, ctx: ConnectorContext): SourceClient {
    return createFileTableSource(spec, ctx, localLister(ctx.baseDir, ctx.name));
  },
});
