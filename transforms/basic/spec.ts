/**
 * The `basic` transformer's spec: its JSON schema (assembled from the kinds' schema parts), the
 * checks a schema cannot express, and ajv errors translated into config problems with
 * did-you-mean suggestions (docs/transformers.md).
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { schemaValidator } from '../../lib/config/precompiled.js';
import type { SpecProblem } from '../../lib/connector.js';
import { didYouMean } from '../../lib/config/suggest.js';
import { schemaProblems } from '../../lib/config/schema-problems.js';
import { KINDS } from './kinds.js';
import { invariantProblems } from './invariants.js';
import { BASIC_KINDS, STR, type BasicSpec, type KeyPath } from './transformation.js';

/** kinds users reach for that neither CloudQuery nor cq-pipe has (a clear error instead of "unknown") */
const NOT_SUPPORTED: Record<string, string> = {
  remove_columns_except: 'use obfuscate_columns_except (its default, unmatched: drop, removes every column not listed)',
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
          // biome-ignore lint/suspicious/noThenProperty: JSON schema's if/then, not a thenable
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
const validateSchema = (): ValidateFunction => (compiled ??= schemaValidator(basicSpecSchema));

/** ajv errors → problems (key paths relative to the transformer's `spec`); transformation kinds get their own words. */
export function ajvSpecProblems(errors: ErrorObject[], prefix: KeyPath = ['spec']): SpecProblem[] {
  return schemaProblems(errors, prefix, (e, kp) => {
    if (e.keyword === 'minItems') return { message: 'must not be empty' };
    if (e.keyword !== 'enum' || kp[kp.length - 1] !== 'kind' || typeof e.data !== 'string') return undefined;
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
    const unsupported = NOT_SUPPORTED[e.data];
    return unsupported
      ? { message: `transformation kind "${e.data}" is not supported by cq-pipe`, hint: unsupported }
      : { message: `unknown transformation kind "${e.data}"${didYouMean(e.data, allowed)}`, hint: `kinds: ${allowed.join(', ')}` };
  });
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
  problems.push(...invariantProblems(copy));
  return problems.length ? { problems } : { spec: copy, problems };
}
