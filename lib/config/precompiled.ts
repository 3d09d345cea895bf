/**
 * Validators of JSON schemas, from the build or compiled with ajv (docs/config.md, "schema
 * validators"). The build (scripts/compile-schemas.ts) turns every built-in schema — the config
 * document's, each kind's, every built-in connector's and transformer's — into ajv's standalone
 * code, one CommonJS module per schema in `precompiled/` next to this file, named by the schema's
 * key: a hash of the ajv options and the schema's JSON. A schema is looked up by its key, so a
 * changed schema whose module the build did not write (a stale dist/) has no module, and is
 * compiled at run time like any schema known only at run time (a module connector's, a
 * plugin's); ajv itself loads only then. A module whose recorded key is not its schema's, or that
 * does not load, is not used either. Both paths give the same validation, defaults and errors.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, Options, ValidateFunction } from 'ajv';

/** the options of every config schema: every error, defaults filled in, errors with their data and schema */
export const AJV_OPTIONS: Readonly<Options> = Object.freeze({ allErrors: true, useDefaults: true, verbose: true, strict: false });

/** where the build writes the modules */
export const PRECOMPILED_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'precompiled');

const requireCjs = createRequire(import.meta.url);

/** A schema's key: what names its module and is recorded in it (the options are part of it). */
export function schemaKey(schema: object): string {
  return createHash('sha256').update(JSON.stringify(AJV_OPTIONS)).update('\n').update(JSON.stringify(schema)).digest('hex').slice(0, 32);
}

/** the file of a schema's module */
export function precompiledFile(key: string, dir: string = PRECOMPILED_DIR): string {
  return path.join(dir, `${key}.cjs`);
}

/** how the validators handed out so far were made (tests, `--debug`-style diagnostics) */
export const validatorStats = { precompiled: 0, compiled: 0 };

let ajvInstance: Ajv | undefined;

/** ajv, loaded on the first schema that has no module */
function ajv(): Ajv {
  if (!ajvInstance) {
    const { Ajv } = requireCjs('ajv') as typeof import('ajv');
    ajvInstance = new Ajv({ ...AJV_OPTIONS });
  }
  return ajvInstance;
}

/** The build's validator of a schema, or undefined (no module, another schema's, or not loadable). */
export function precompiledValidator(schema: object, dir: string = PRECOMPILED_DIR): ValidateFunction | undefined {
  const key = schemaKey(schema);
  let mod: unknown;
  try {
    mod = requireCjs(precompiledFile(key, dir));
  } catch {
    return undefined;
  }
  return typeof mod === 'function' && (mod as { schemaKey?: unknown }).schemaKey === key ? (mod as ValidateFunction) : undefined;
}

/** A schema compiled with ajv now; throws ajv's error when the schema is invalid. */
export function compileAtRunTime(schema: object): ValidateFunction {
  const v = ajv().compile(schema);
  validatorStats.compiled++;
  return v;
}

/**
 * The validator of a schema: the build's when there is one for exactly this schema, otherwise
 * compiled now. Callers cache it (per descriptor or kind). Throws when the schema does not compile.
 */
export function schemaValidator(schema: object, dir: string = PRECOMPILED_DIR): ValidateFunction {
  const pre = precompiledValidator(schema, dir);
  if (pre) {
    validatorStats.precompiled++;
    return pre;
  }
  return compileAtRunTime(schema);
}
