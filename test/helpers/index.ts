/** Shared test helpers: temp dirs, config objects, small tables, DuckDB reads. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as A from 'apache-arrow';
import type { Test } from 'tap';
import type { DestinationSpec, LoadedConfig, SourceSpec } from '../../lib/config/types.js';
import type { SyncMessage, WriteMode, PkMode } from '../../lib/messages.js';
import { defineTable } from '../../lib/schema.js';
import { splitEngineKeys, withRegistry } from '../../lib/config/index.js';
import { builtinRegistry } from '../../bin/registry.js';
import { registerStatic, STATIC_SOURCE_PATH } from './static-source.js';

// plugins built with the JS SDK start in ~1 s, but on a loaded machine (CI, parallel test files) the
// CloudQuery CLI's 5 s can pass; tests of start-up timeouts set their own (docs/plugins.md)
process.env.CQ_PIPE_PLUGIN_START_TIMEOUT ??= '30000';

/** repository root (tests run from dist/test/…) */
export const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
export const CLI = path.join(ROOT, 'dist/bin/cq-pipe.js');

export async function tmpDir(t: Test, prefix = 'cq-pipe-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const origin = { file: 'test', document: 1, baseDir: ROOT };

export function sourceSpec(over: Partial<SourceSpec> & Pick<SourceSpec, 'path' | 'spec'>): SourceSpec {
  return { name: 'src', tables: ['*'], skip_tables: [], destinations: ['dst'], deterministic_cq_id: false, origin, ...over };
}

/** A destination spec built in code; batch_* keys in `spec` are taken out as the config loader does. */
export function destSpec(over: Partial<DestinationSpec> & Pick<DestinationSpec, 'path'>): DestinationSpec {
  const { spec, batch } = splitEngineKeys(over.spec ?? {});
  return {
    name: 'dst',
    write_mode: 'overwrite-delete-stale' as WriteMode,
    migrate_mode: 'safe',
    pk_mode: 'default' as PkMode,
    transformers: [],
    origin,
    ...over,
    spec,
    batch: { ...batch, ...over.batch },
  };
}

/** A config built in code, with the built-in registry (as loadConfig gives). */
export function config(sources: SourceSpec[], destinations: DestinationSpec[], transformers: LoadedConfig['transformers'] = []): LoadedConfig {
  return withRegistry({ sources, destinations, transformers, secrets: [] }, builtinRegistry);
}

/** The small table most engine tests use: id (pk), name, value. */
export const ITEMS = defineTable({
  name: 'items',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'name', type: 'utf8' },
    { name: 'value', type: 'float64' },
  ],
});

export function itemsBatch(rows: { id: number; name: string | null; value: number | null }[], schema: A.Schema = ITEMS): A.RecordBatch {
  const id = A.makeBuilder({ type: new A.Int64(), nullValues: [null] });
  const name = A.makeBuilder({ type: new A.Utf8(), nullValues: [null] });
  const value = A.makeBuilder({ type: new A.Float64(), nullValues: [null] });
  for (const r of rows) {
    id.append(BigInt(r.id));
    name.append(r.name);
    value.append(r.value);
  }
  const children = [id.finish().flush(), name.finish().flush(), value.finish().flush()];
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: rows.length, nullCount: 0, children }));
}

/** A static source spec serving `messages` for `tables`. */
export function staticSource(tables: A.Schema[], messages: SyncMessage[], over: Partial<SourceSpec> = {}) {
  const data = { tables, messages };
  const key = registerStatic(data);
  return { spec: sourceSpec({ path: STATIC_SOURCE_PATH, spec: { key }, ...over }), data };
}

export function inserts(table: string, ...batches: A.RecordBatch[]): SyncMessage[] {
  return batches.map((batch) => ({ kind: 'insert', table, batch }));
}

/** Rows of a query run by DuckDB (an independent reader). */
export async function duckdb(sql: string): Promise<Record<string, unknown>[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  try {
    const r = await con.runAndReadAll(sql);
    return r.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    con.closeSync();
  }
}

/** Files under `dir` (relative to the repository) whose names end in `ext`, declaration files excepted. */
export async function repoFiles(dir: string, ext: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await repoFiles(rel, ext)));
    else if (e.name.endsWith(ext) && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}
