/**
 * The `basic` transformer's spec: its JSON schema (assembled from the kinds' schema parts), the
 * checks a schema cannot express, and ajv errors translated into config problems with
 * did-you-mean suggestions (docs/transformers.md).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { SpecProblem } from '../../lib/connector.js';
import { closest, didYouMean } from '../../lib/config/suggest.js';
import { KINDS } from './kinds.js';
import { BASIC_KINDS, STR, type BasicSpec, type KeyPath } from './transformation.js';

/** CloudQuery kinds cq-pipe knows of but does not run (a clear error instead of "unknown"). */
const NOT_SUPPORTED: Record<string, string> = {
  obfuscate_columns_except: 'use obfuscate_columns (or remove_columns) with an explicit list of columns',
  remove_columns_except: 'use remove_columns with an explicit list of columns',
};

/**
 * JSON schema (draft-07) of the `basic` transformer's spec. Unknown keys are rejected per kind.
 * Checks a schema cannot express (rename_column's new name, the table-name template) are the
 * kinds' `check`s, run by `parseBasicSpec`.
 */
export const basicSpecSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['transformations'],
  properties: {
    transformations: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind'],
        properties: { kind: { type: 'string', enum: [...BASIC_KINDS] } },
        allOf: BASIC_KINDS.map((k) => ({
          if: { properties: { kind: { const: k } }, required: ['kind'] },
          then: {
            type: 'object',
            additionalProperties: false,
            required: KINDS[k].keys.required,
            properties: { kind: {}, tables: { type: 'array', items: STR, default: ['*'] }, ...KINDS[k].keys.properties },
          },
        })),
      },
    },
  },
} as const;

// compiled on first use: a process that never validates this transformer pays nothing at start-up
let compiled: ValidateFunction | undefined;
const validateSchema = (): ValidateFunction =>
  (compiled ??= new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false }).compile(basicSpecSchema));

function pointer(p: string): KeyPath {
  if (!p) return [];
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** ajv errors → problems (key paths relative to the transformer's `spec`). */
export function ajvSpecProblems(errors: ErrorObject[], prefix: KeyPath = ['spec']): SpecProblem[] {
  const out: SpecProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (e.keyword === 'if') continue;
    let kp: KeyPath = [...prefix, ...pointer(e.instancePath)];
    let message: string;
    let hint: string | undefined;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        kp = [...kp, key];
        const known = Object.keys(((e.parentSchema ?? {}) as { properties?: object }).properties ?? {});
        const near = closest(key, known);
        message = `unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`;
        hint = known.length ? `allowed keys here: ${known.join(', ')}` : undefined;
        break;
      }
      case 'required':
        message = `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
        break;
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
        if (kp[kp.length - 1] === 'kind' && typeof e.data === 'string') {
          const unsupported = NOT_SUPPORTED[e.data];
          message = unsupported
            ? `transformation kind "${e.data}" is not supported by cq-pipe`
            : `unknown transformation kind "${e.data}"${didYouMean(e.data, allowed)}`;
          hint = unsupported ?? `kinds: ${allowed.join(', ')}`;
        } else {
          message = `${JSON.stringify(e.data)} is not one of ${allowed.join(', ')}${typeof e.data === 'string' ? didYouMean(e.data, allowed) : ''}`;
        }
        break;
      }
      case 'type':
        message = `must be ${(e.params as { type: string }).type}, got ${Array.isArray(e.data) ? 'array' : e.data === null ? 'null' : typeof e.data}`;
        break;
      case 'minItems':
        message = 'must not be empty';
        break;
      default:
        message = e.message ?? `invalid (${e.keyword})`;
    }
    const dedupe = `${kp.join('.')}|${message}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    out.push({ keyPath: kp, message, ...(hint ? { hint } : {}) });
  }
  return out;
}

/** Problems in a `basic` spec (empty when valid); key paths are relative to the document's `spec`. */
export function validateBasicSpec(spec: unknown): SpecProblem[] {
  return parseBasicSpec(spec).problems;
}

/** Validate and normalize (defaults applied, on a copy). */
export function parseBasicSpec(spec: unknown): { spec?: BasicSpec; problems: SpecProblem[] } {
  const copy = structuredClone(spec ?? {}) as BasicSpec;
  const validate = validateSchema();
  if (!validate(copy)) return { problems: ajvSpecProblems(validate.errors ?? []) };
  const problems: SpecProblem[] = [];
  copy.transformations.forEach((t, i) => {
    const check = KINDS[t.kind].check;
    if (check) problems.push(...check(t, ['spec', 'transformations', i]));
  });
  return problems.length ? { problems } : { spec: copy, problems };
}
