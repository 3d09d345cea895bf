/**
 * The `file` destination: tables written as Parquet, NDJSON, CSV or Arrow IPC files under a path
 * template, by the shared object writer (connectors/object-writer/writer.ts) into local files
 * (./sink.ts: a temp file renamed into place when complete).
 *
 *   spec: { path: "./cq-output/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet,
 *           compression: none | gzip (ndjson, csv), no_rotate: false }
 *
 * Relative paths resolve against ctx.baseDir (the working directory). docs/file-destination.md
 * has the details.
 */
import { defineDestination, type DestinationClient } from '../../lib/connector.js';
import { ConfigError } from '../../lib/errors.js';
import { OBJECT_WRITER_PROPERTIES, objectWriterSettings, specProblem, type ObjectWriterSpec } from '../object-writer/settings.js';
import { ObjectWriter } from '../object-writer/writer.js';
import { FileObjects } from './sink.js';
import { staticDirectory } from '../../lib/path-template.js';

export const DEFAULT_FILE_PATH = './cq-output/{{TABLE}}/{{UUID}}.{{FORMAT}}';

export interface FileDestinationSpec extends ObjectWriterSpec {}

export const fileDestinationSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: { type: 'string', minLength: 1, default: DEFAULT_FILE_PATH },
    ...OBJECT_WRITER_PROPERTIES,
  },
} as const;

export const fileDestination = defineDestination<FileDestinationSpec>({
  name: 'file',
  configSchema: fileDestinationSchema,
  capabilities: { writeModes: ['append'], batch: { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 } },
  /** `@@plugins.<name>.connection`: file state (connectors/file/state.ts) in the directory before the path's first placeholder */
  stateConnection: (spec) => {
    const dir = staticDirectory(typeof spec.path === 'string' ? spec.path : DEFAULT_FILE_PATH) || '.';
    return dir.startsWith('/') ? `file://${dir}` : `file://${dir.startsWith('.') ? dir : `./${dir}`}`;
  },
  /** at config load: the same checks create() makes (templates, format/compression pairs) */
  validate(spec) {
    try {
      objectWriterSettings(spec ?? {}, 'file', DEFAULT_FILE_PATH);
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return [specProblem(err)];
    }
  },
  create(spec, ctx): DestinationClient {
    return new ObjectWriter(objectWriterSettings(spec ?? {}, ctx.name, DEFAULT_FILE_PATH), new FileObjects(ctx), ctx);
  },
});
