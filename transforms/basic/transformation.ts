/**
 * The `basic` transformer's transformations: the kinds, the shape of one transformation, and what
 * each kind file provides — its part of the spec schema, its extra checks and its plan step
 * (docs/transformers.md, "basic").
 */
import type * as A from 'apache-arrow';
import type { SpecProblem } from '../../lib/connector.js';

export const BASIC_KINDS = [
  'remove_columns',
  'add_column',
  'add_current_timestamp_column',
  'obfuscate_columns',
  'obfuscate_sensitive_columns',
  'obfuscate_columns_except',
  'rename_column',
  'change_table_names',
  'add_primary_keys',
  'drop_rows',
  'uppercase',
  'lowercase',
] as const;
export type BasicKind = (typeof BASIC_KINDS)[number];

export interface Transformation {
  kind: BasicKind;
  tables: string[];
  columns?: string[];
  name?: string;
  value?: string | number | boolean | null;
  new_name?: string;
  new_table_name_template?: string;
  include_sha?: boolean;
  /** obfuscate_columns_except: what happens to what the allowlist does not keep */
  unmatched?: 'drop' | 'collapse' | 'redact' | '';
}

export interface BasicSpec {
  transformations: Transformation[];
}

/** What a plan step does to the columns of a batch (`length` rows). */
export interface Cols {
  cols: A.Data[];
  length: number;
}

export interface Compiled {
  schema: A.Schema;
  /** column operation; absent when only the schema (names, metadata) changes */
  run?: (c: Cols) => Cols;
}

/** Throws the ConfigError of a transformation that does not fit a table (`key` under the transformation). */
export type Fail = (schema: A.Schema, message: string, key?: string, column?: string, hint?: string) => never;

export type KeyPath = (string | number)[];

/** One kind: an entry of the dispatch table (kinds.ts). */
export interface KindOp {
  /** the kind's keys besides `kind` and `tables` (JSON schema, draft-07; unknown keys are rejected) */
  keys: { required: string[]; properties: Record<string, object> };
  /** checks a schema cannot express; `kp` is the transformation's key path */
  check?(t: Transformation, kp: KeyPath): SpecProblem[];
  /** the plan step of one transformation: a table's schema → its output schema and column operation */
  compile(t: Transformation, fail: Fail): (schema: A.Schema) => Compiled;
  /** the table's name after this step (what delete-stale, table errors and checkpoints follow) */
  renameTable?(t: Transformation, table: string): string;
}

// schema parts shared by the kinds
export const STR = { type: 'string', minLength: 1 } as const;
export const COLUMNS = { type: 'array', items: STR, minItems: 1 } as const;
export const SCALAR = { type: ['string', 'number', 'boolean'] } as const;
export const INCLUDE_SHA = { type: 'boolean', default: true } as const;
