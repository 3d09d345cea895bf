/** The `basic` kinds by name: one dispatch-table entry per kind file (docs/transformers.md). */
import type { BasicKind, KindOp } from './transformation.js';
import { removeColumns } from './remove-columns.js';
import { addColumn } from './add-column.js';
import { addCurrentTimestampColumn } from './add-current-timestamp-column.js';
import { obfuscateColumns, obfuscateSensitiveColumns } from './obfuscate-columns.js';
import { obfuscateColumnsExcept } from './obfuscate-columns-except.js';
import { renameColumn } from './rename-column.js';
import { changeTableNames } from './change-table-names.js';
import { addPrimaryKeys } from './add-primary-keys.js';
import { dropRows } from './drop-rows.js';
import { lowercase, uppercase } from './case.js';

export const KINDS: Readonly<Record<BasicKind, KindOp>> = {
  remove_columns: removeColumns,
  add_column: addColumn,
  add_current_timestamp_column: addCurrentTimestampColumn,
  obfuscate_columns: obfuscateColumns,
  obfuscate_sensitive_columns: obfuscateSensitiveColumns,
  obfuscate_columns_except: obfuscateColumnsExcept,
  rename_column: renameColumn,
  change_table_names: changeTableNames,
  add_primary_keys: addPrimaryKeys,
  drop_rows: dropRows,
  uppercase,
  lowercase,
};
