/**
 * `obfuscate_columns` and `obfuscate_sensitive_columns`: CloudQuery's redaction marker in place of
 * string, binary and json values, whole or by JSON path (docs/transformers.md).
 */
import * as A from 'apache-arrow';
import { extensionOf, typeName } from '../../lib/types.js';
import { encoder, mapVarColumn } from '../../lib/arrow/index.js';
import { editJsonColumn, isJsonField, isStringField, replaceCols, splitColumns } from './columns.js';
import { getAt, locate, setAt } from './json-path.js';
import { MD_SENSITIVE_COLUMNS, REDACTED, REDACTED_JSON_KEY, redactValue, sha256hex } from './redact.js';
import { COLUMNS, INCLUDE_SHA, type Compiled, type Fail, type Transformation, type KindOp } from './transformation.js';

/** the columns a table's metadata marks sensitive; undefined when none */
function sensitiveColumns(schema: A.Schema, fail: Fail): string[] | undefined {
  const raw = schema.metadata.get(MD_SENSITIVE_COLUMNS);
  if (!raw) return undefined;
  let names: string[] = [];
  try {
    names = JSON.parse(raw) as string[];
  } catch {
    fail(schema, `table metadata ${MD_SENSITIVE_COLUMNS} is not a JSON array of column names`);
  }
  return Array.isArray(names) && names.length > 0 ? names : undefined;
}

function obfuscate(t: Transformation, fail: Fail, schema: A.Schema, names: string[]): Compiled {
  const includeSha = t.include_sha !== false;
  const { plain, paths } = splitColumns(schema, names, fail);
  const ops = new Map<number, (d: A.Data) => A.Data>();
  for (const i of plain) {
    const f = schema.fields[i]!;
    if (isStringField(f) || (f.typeId === A.Type.Binary && !extensionOf(f)) || f.typeId === A.Type.LargeBinary) {
      const markerFixed = includeSha ? undefined : encoder.encode(REDACTED);
      ops.set(i, (d) => mapVarColumn(d, (bytes) => markerFixed ?? encoder.encode(redactValue(bytes, true))));
    } else if (isJsonField(f)) {
      ops.set(i, (d) => mapVarColumn(d, (bytes) => encoder.encode(JSON.stringify({ [REDACTED_JSON_KEY]: includeSha ? sha256hex(bytes) : REDACTED }))));
    } else {
      fail(schema, `column ${f.name} is ${typeName(f)}, not a string, binary or JSON column`, 'columns', f.name);
    }
  }
  for (const [i, ps] of paths) {
    ops.set(i, (d) =>
      editJsonColumn(d, (root) => {
        let changed = false;
        for (const p of ps) {
          const locs = locate(root, p);
          if (!locs.length) continue;
          // as CloudQuery: one marker for everything a path matches (`#` paths hash the array of matches)
          const raw = locs.length === 1 && !p.includes('#') ? JSON.stringify(getAt(locs[0]!)) : JSON.stringify(locs.map(getAt));
          const marker = redactValue(raw, includeSha);
          for (const l of locs) setAt(l, marker);
          changed = true;
        }
        return changed;
      }),
    );
  }
  return replaceCols(schema, ops);
}

export const obfuscateColumns: KindOp = {
  keys: { required: ['columns'], properties: { columns: COLUMNS, include_sha: INCLUDE_SHA } },
  compile: (t, fail) => (schema) => obfuscate(t, fail, schema, t.columns ?? []),
};

export const obfuscateSensitiveColumns: KindOp = {
  keys: { required: [], properties: { include_sha: INCLUDE_SHA } },
  compile: (t, fail) => (schema) => {
    const names = sensitiveColumns(schema, fail);
    return names ? obfuscate(t, fail, schema, names) : { schema };
  },
};
