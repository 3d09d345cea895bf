/**
 * Transformations that would break the engine's invariants are config errors at load
 * (docs/transformers.md, "Invariants"): the reserved `_cq_*` columns are the engine's (delete-stale,
 * `_cq_id` keys and state rely on them), so no transformation may remove, rename, overwrite or
 * re-case them; and `change_table_names` may not map two tables to one name (their rows would merge).
 */
import type { SpecProblem } from '../../lib/connector.js';
import type { BasicSpec, KeyPath } from './transformation.js';

const RESERVED = /^_cq_/;
/** kinds whose `columns` change or remove the columns they name */
const COLUMN_CHANGING = new Set(['remove_columns', 'obfuscate_columns', 'uppercase', 'lowercase']);

/** a template that renders the same name for every table (no `{{…}}` action) */
export function isConstantTemplate(template: string): boolean {
  return !/\{\{.*?\}\}/.test(template);
}

export function invariantProblems(spec: BasicSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  spec.transformations.forEach((t, i) => {
    const kp: KeyPath = ['spec', 'transformations', i];
    const hint = 'the _cq_* columns are the engine’s: delete-stale, keys and state rely on them';
    if (COLUMN_CHANGING.has(t.kind)) {
      (t.columns ?? []).forEach((c, j) => {
        const column = c.split('.')[0]!;
        if (RESERVED.test(column)) problems.push({ keyPath: [...kp, 'columns', j], message: `${t.kind} cannot change the reserved column ${column}`, hint });
      });
    }
    if (t.kind === 'rename_column') {
      if (t.name && RESERVED.test(t.name))
        problems.push({ keyPath: [...kp, 'name'], message: `rename_column cannot rename the reserved column ${t.name}`, hint });
      const to = (t.value ?? t.new_name) as string | undefined;
      const key = t.value !== undefined ? 'value' : 'new_name';
      if (typeof to === 'string' && RESERVED.test(to))
        problems.push({ keyPath: [...kp, key], message: `rename_column cannot rename a column to ${to}: the _cq_ prefix is reserved`, hint });
    }
    if (t.kind === 'change_table_names' && isConstantTemplate(t.new_table_name_template ?? '') && t.tables.length > 1) {
      problems.push({
        keyPath: [...kp, 'new_table_name_template'],
        message: `change_table_names would merge tables ${t.tables.map((x) => JSON.stringify(x)).join(' and ')} into one table "${t.new_table_name_template}"`,
        hint: 'use {{.OldName}} in the template (e.g. "cq_{{.OldName}}") or one change_table_names per table',
      });
    }
  });
  return problems;
}
