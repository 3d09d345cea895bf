/**
 * The registry of built-in connectors, by the name used in a config's `path`.
 * A `path` that is not a built-in name is loaded as a module (default export or `source` /
 * `destination` named export: a descriptor made with defineSource / defineDestination).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DestinationConnector, SourceConnector } from '../lib/connector.js';
import { ConnectorNotFoundError, type ErrorContext } from '../lib/errors.js';
import { testSource } from './test-source.js';
import { fileSource } from './file/source.js';
import { fileDestination } from './file/destination.js';
import { memoryDestination, memoryTables } from './memory.js';
import { postgresDestination } from './postgresql/destination.js';
import { postgresSource } from './postgresql/source.js';
import { s3Destination } from './s3/destination.js';
import { s3Source } from './s3/source.js';

export const SOURCES: Record<string, SourceConnector<any>> = {
  test: testSource,
  file: fileSource,
  postgresql: postgresSource,
  s3: s3Source,
};

export const DESTINATIONS: Record<string, DestinationConnector<any>> = {
  file: fileDestination,
  memory: memoryDestination,
  postgresql: postgresDestination,
  s3: s3Destination,
};

function looksLikeModulePath(p: string): boolean {
  return p.startsWith('.') || p.startsWith('/') || /\.(m?js|cjs|ts)$/.test(p);
}

async function loadModule(p: string, baseDir: string): Promise<Record<string, unknown>> {
  const url = p.startsWith('/') || p.startsWith('.') ? pathToFileURL(path.resolve(baseDir, p)).href : p;
  return (await import(url)) as Record<string, unknown>;
}

export async function resolveSource(p: string, baseDir: string, context: ErrorContext = {}): Promise<SourceConnector> {
  const builtin = SOURCES[p];
  if (builtin) return builtin;
  if (!looksLikeModulePath(p)) throw new ConnectorNotFoundError(p, Object.keys(SOURCES), context);
  let mod: Record<string, unknown>;
  try {
    mod = await loadModule(p, baseDir);
  } catch (err) {
    throw new ConnectorNotFoundError(p, Object.keys(SOURCES), context, err);
  }
  const c = (mod.source ?? mod.default) as SourceConnector | undefined;
  if (!c || c.kind !== 'source') throw new ConnectorNotFoundError(p, Object.keys(SOURCES), { ...context, phase: 'module has no source descriptor (export default defineSource({...}))' });
  return c;
}

export async function resolveDestination(p: string, baseDir: string, context: ErrorContext = {}): Promise<DestinationConnector> {
  const builtin = DESTINATIONS[p];
  if (builtin) return builtin;
  if (!looksLikeModulePath(p)) throw new ConnectorNotFoundError(p, Object.keys(DESTINATIONS), context);
  let mod: Record<string, unknown>;
  try {
    mod = await loadModule(p, baseDir);
  } catch (err) {
    throw new ConnectorNotFoundError(p, Object.keys(DESTINATIONS), context, err);
  }
  const c = (mod.destination ?? mod.default) as DestinationConnector | undefined;
  if (!c || c.kind !== 'destination') throw new ConnectorNotFoundError(p, Object.keys(DESTINATIONS), { ...context, phase: 'module has no destination descriptor (export default defineDestination({...}))' });
  return c;
}

export { testSource, fileSource, fileDestination, memoryDestination, memoryTables, postgresDestination, postgresSource };
