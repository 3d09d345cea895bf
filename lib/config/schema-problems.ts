/**
 * JSON-schema (ajv) errors → problems a user can act on: the key path, "unknown key" with a
 * did-you-mean and the allowed keys, "missing required key", enums with a suggestion, and types.
 * Shared by the config loader and by transformers that check their own spec (docs/config.md).
 */
import type { ErrorObject } from 'ajv';
import type { SpecProblem } from '../connector.js';
import { closest, didYouMean } from './suggest.js';

export type KeyPath = (string | number)[];

/** A translation of one error that overrides the default (return undefined to keep the default). */
export type DescribeError = (e: ErrorObject, keyPath: KeyPath) => { message: string; hint?: string } | undefined;

export function pointerToPath(pointer: string): KeyPath {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describeDefault(e: ErrorObject, kp: KeyPath): { keyPath: KeyPath; message: string; hint?: string } {
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys(((e.parentSchema ?? {}) as { properties?: object }).properties ?? {});
      const near = closest(key, known);
      return {
        keyPath: [...kp, key],
        message: `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`,
        hint: known.length ? `allowed keys here: ${known.join(', ')}` : undefined,
      };
    }
    case 'required':
      return { keyPath: kp, message: `missing required key "${(e.params as { missingProperty: string }).missingProperty}"` };
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const near = typeof e.data === 'string' ? didYouMean(e.data, allowed) : '';
      return { keyPath: kp, message: `${JSON.stringify(e.data)} is not one of ${allowed.join(', ')}${near}` };
    }
    case 'type': {
      const got = Array.isArray(e.data) ? 'array' : e.data === null ? 'null' : typeof e.data;
      return { keyPath: kp, message: `must be ${(e.params as { type: string }).type}, got ${got}` };
    }
    default:
      return { keyPath: kp, message: e.message ?? `invalid (${e.keyword})` };
  }
}

/** ajv errors → problems under `prefix`, one per key path and message. */
export function schemaProblems(errors: readonly ErrorObject[], prefix: KeyPath = [], describe?: DescribeError): SpecProblem[] {
  const out: SpecProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'if') continue; // the branch that failed reports its own error
    const kp = [...prefix, ...pointerToPath(e.instancePath)];
    const own = describe?.(e, kp);
    const p = own ? { keyPath: kp, ...own } : describeDefault(e, kp);
    const dedupe = `${p.keyPath.join('\u0000')}|${p.message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    out.push({ keyPath: p.keyPath, message: p.message, ...(p.hint ? { hint: p.hint } : {}) });
  }
  return out;
}
