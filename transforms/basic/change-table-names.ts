/** `change_table_names`: a new table name from a template (`cq_{{.OldName}}`); later steps and control messages follow it (docs/transformers.md). */
import * as A from 'apache-arrow';
import type { SpecProblem } from '../../lib/connector.js';
import { MD_TABLE_NAME, tableName } from '../../lib/schema.js';
import { STR, type KindOp } from './transformation.js';

const TEMPLATE_ACTION = /\{\{(.*?)\}\}/g;

export function renderTemplate(template: string, oldName: string): string {
  return template.replace(TEMPLATE_ACTION, () => oldName);
}

export const changeTableNames: KindOp = {
  keys: { required: ['new_table_name_template'], properties: { new_table_name_template: STR } },
  check: (t, kp) => {
    const problems: SpecProblem[] = [];
    for (const m of t.new_table_name_template!.matchAll(TEMPLATE_ACTION)) {
      if (m[1]!.trim() !== '.OldName') {
        problems.push({
          keyPath: [...kp, 'new_table_name_template'],
          message: `unsupported template action "{{${m[1]}}}"`,
          hint: 'the only variable is {{.OldName}}, the table name before this step',
        });
      }
    }
    if (renderTemplate(t.new_table_name_template!, 'x') === '') {
      problems.push({ keyPath: [...kp, 'new_table_name_template'], message: 'renders an empty table name' });
    }
    return problems;
  },
  compile: (t) => (schema) => {
    const md = new Map(schema.metadata);
    md.set(MD_TABLE_NAME, renderTemplate(t.new_table_name_template!, tableName(schema)));
    return { schema: new A.Schema(schema.fields, md) };
  },
  renameTable: (t, table) => renderTemplate(t.new_table_name_template!, table),
};
