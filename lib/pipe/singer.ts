/**
 * Singer interop (docs/pipes.md): a tap's SCHEMA / RECORD / STATE lines become tables (key_properties →
 * primary key), rows and checkpoints; and a cq-pipe stream becomes Singer lines for targets.
 * A STATE line is a checkpoint with the key `singer_state`: once the destination commits every row
 * before it, it is persisted and echoed to stdout (so `| tail -1` gives the last durable state).
 */
import type * as A from 'apache-arrow';
import { SourceDataError } from '../errors.js';
import type { SyncMessage } from '../messages.js';
import { defineTable, isPrimaryKey, primaryKeys, tableName, type ColumnDef } from '../schema.js';
import { RowBatchBuilder, ValueError } from '../row-builder.js';
import { extensionOf, typeName } from '../types.js';
import { batchToJsonObjects } from '../arrow-json.js';
import { linesOf } from './lines.js';
import { parseJsonExact } from '../json-exact.js';
import { isObject, jsonKind } from './json-kind.js';
import type { PipeMessage } from './arrow-stream.js';

export const SINGER_STATE_KEY = 'singer_state';

interface JsonSchema {
  type?: string | string[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
}

function cqTypeOf(s: JsonSchema): { type: string; nullable: boolean } {
  let types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  if (!types.length && s.anyOf) types = s.anyOf.flatMap((x) => (Array.isArray(x.type) ? x.type : x.type ? [x.type] : []));
  const nullable = types.includes('null') || types.length === 0;
  const t = types.filter((x) => x !== 'null');
  const format = s.format ?? s.anyOf?.find((x) => x.format)?.format;
  if (t.length !== 1) return { type: t.length === 0 ? 'utf8' : t.every((x) => x === 'integer' || x === 'number') ? 'float64' : 'json', nullable };
  switch (t[0]) {
    case 'integer':
      return { type: 'int64', nullable };
    case 'number':
      return { type: 'float64', nullable };
    case 'boolean':
      return { type: 'bool', nullable };
    case 'string':
      return { type: format === 'date-time' ? 'timestamp' : format === 'date' ? 'date32' : format === 'uuid' ? 'uuid' : 'utf8', nullable };
    default:
      return { type: 'json', nullable };
  }
}

const tableNameOf = (stream: string) => stream.replace(/[^A-Za-z0-9_]/g, '_');

/** Singer lines → messages: migrate-table per SCHEMA, inserts of `batchRows`, checkpoints per STATE */
export async function* decodeSinger(input: AsyncIterable<Uint8Array | string>, batchRows = 10000): AsyncGenerator<PipeMessage> {
  const builders = new Map<string, { builder: RowBatchBuilder; lines: number[]; table: string }>();
  let states = 0;
  function* flush(which?: string): Generator<SyncMessage> {
    for (const [stream, b] of builders) {
      if (which !== undefined && which !== stream) continue;
      if (b.builder.length === 0) continue;
      try {
        yield { kind: 'insert', table: b.table, batch: b.builder.finish() };
      } catch (err) {
        if (err instanceof ValueError) throw new SourceDataError(err.message, { file: 'stdin', line: b.lines[err.index], table: b.table, column: err.column });
        throw err;
      }
      b.lines = [];
    }
  }
  for await (const { line, text } of linesOf(input)) {
    let m: { type?: string; stream?: string; schema?: JsonSchema; key_properties?: string[]; record?: Record<string, unknown>; value?: unknown };
    try {
      m = parseJsonExact(text) as typeof m;
    } catch (err) {
      throw new SourceDataError(`malformed JSON: ${(err as Error).message}`, { file: 'stdin', line });
    }
    if (!isObject(m)) throw new SourceDataError(`a Singer message must be a JSON object, not ${jsonKind(m)}`, { file: 'stdin', line });
    switch (m.type) {
      case 'SCHEMA': {
        if (!m.stream || !m.schema?.properties) throw new SourceDataError('SCHEMA needs stream and schema.properties', { file: 'stdin', line });
        yield* flush(m.stream);
        const keys = m.key_properties ?? [];
        const columns: ColumnDef[] = Object.entries(m.schema.properties).map(([name, s]) => {
          const t = cqTypeOf(s);
          return { name, type: t.type, not_null: keys.includes(name) || !t.nullable, primary_key: keys.includes(name) };
        });
        const table = defineTable({ name: tableNameOf(m.stream), columns });
        builders.set(m.stream, { builder: new RowBatchBuilder(table), lines: [], table: tableNameOf(m.stream) });
        yield { kind: 'migrate-table', table };
        break;
      }
      case 'RECORD': {
        const b = m.stream !== undefined ? builders.get(m.stream) : undefined;
        if (!b) throw new SourceDataError(`RECORD for stream "${m.stream}" before its SCHEMA`, { file: 'stdin', line });
        if (!isObject(m.record)) {
          throw new SourceDataError(`the record of RECORD for stream "${m.stream}" must be a JSON object, not ${jsonKind(m.record)}`, {
            file: 'stdin',
            line,
            table: b.table,
          });
        }
        b.builder.push(m.record);
        b.lines.push(line);
        if (b.builder.length >= batchRows) yield* flush(m.stream);
        break;
      }
      case 'STATE':
        yield* flush();
        yield { kind: 'checkpoint', id: `singer:${++states}`, state: { [SINGER_STATE_KEY]: JSON.stringify(m.value ?? null) } };
        break;
      default:
        break; // ACTIVATE_VERSION, BATCH, …: nothing to do
    }
  }
  yield* flush();
}

function jsonSchemaOf(f: A.Field): JsonSchema {
  const name = typeName(f);
  const ext = extensionOf(f);
  const base: JsonSchema =
    name === 'bool'
      ? { type: 'boolean' }
      : /^u?int/.test(name)
        ? { type: 'integer' }
        : /^float/.test(name) || name.startsWith('decimal')
          ? { type: 'number' }
          : name === 'timestamp'
            ? { type: 'string', format: 'date-time' }
            : name === 'date32'
              ? { type: 'string', format: 'date' }
              : ext === 'json' || name.startsWith('list') || name.startsWith('struct')
                ? {}
                : { type: 'string' };
  if (base.type && f.nullable) base.type = [base.type as string, 'null'];
  return base;
}

/** messages → Singer lines */
export function encodeSinger(msg: PipeMessage): string | undefined {
  switch (msg.kind) {
    case 'migrate-table': {
      const props = Object.fromEntries(msg.table.fields.map((f) => [f.name, jsonSchemaOf(f)]));
      return (
        JSON.stringify({
          type: 'SCHEMA',
          stream: tableName(msg.table),
          schema: { type: 'object', properties: props },
          key_properties: primaryKeys(msg.table),
        }) + '\n'
      );
    }
    case 'insert':
      return (
        batchToJsonObjects(msg.batch)
          .map((r) => JSON.stringify({ type: 'RECORD', stream: msg.table, record: r }))
          .join('\n') + '\n'
      );
    case 'checkpoint': {
      const s = msg.state[SINGER_STATE_KEY];
      return JSON.stringify({ type: 'STATE', value: s !== undefined ? JSON.parse(s) : msg.state }) + '\n';
    }
    default:
      return undefined;
  }
}

export { isPrimaryKey };
