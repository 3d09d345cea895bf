/** Column helpers shared by the `basic` kinds: which columns a list names, JSON cell edits, per-column rewrites (docs/transformers.md). */
import * as A from 'apache-arrow';
import { extensionOf } from '../../lib/types.js';
import { decoder, encoder, mapVarColumn } from '../../lib/arrow/index.js';
import { splitPath } from './json-path.js';
import type { Compiled, Fail } from './transformation.js';

export function isJsonField(f: A.Field): boolean {
  return extensionOf(f) === 'json';
}
export function isStringField(f: A.Field): boolean {
  return (f.typeId === A.Type.Utf8 || f.typeId === A.Type.LargeUtf8) && !extensionOf(f);
}

/** Apply `edit` to each JSON value of a json column; rows it leaves untouched keep their bytes. */
export function editJsonColumn(d: A.Data, edit: (root: unknown) => boolean): A.Data {
  return mapVarColumn(d, (bytes) => {
    let root: unknown;
    try {
      root = JSON.parse(decoder.decode(bytes));
    } catch {
      return bytes; // not JSON: left as is (CloudQuery leaves invalid JSON untouched too)
    }
    return edit(root) ? encoder.encode(JSON.stringify(root)) : bytes;
  });
}

/** Plain columns present in the schema, and json sub-paths (col → paths), of a `columns` list. */
export function splitColumns(schema: A.Schema, names: string[], fail: Fail): { plain: Set<number>; paths: Map<number, string[][]> } {
  const byName = new Map(schema.fields.map((f, i) => [f.name, i]));
  const plain = new Set<number>();
  const paths = new Map<number, string[][]>();
  for (const n of names) {
    if (byName.has(n)) {
      plain.add(byName.get(n)!);
      continue;
    }
    const dot = n.indexOf('.');
    if (dot < 0) continue; // a column this table does not have: skipped, as in CloudQuery
    const col = byName.get(n.slice(0, dot));
    if (col === undefined) continue;
    const f = schema.fields[col]!;
    if (!isJsonField(f)) fail(schema, `column ${f.name} is not a JSON column, so "${n}" names no JSON path`, 'columns', f.name);
    if (!paths.has(col)) paths.set(col, []);
    paths.get(col)!.push(splitPath(n.slice(dot + 1)));
  }
  for (const c of plain) paths.delete(c);
  return { plain, paths };
}

/** A step that rewrites some columns in place (same schema). */
export function replaceCols(schema: A.Schema, ops: Map<number, (d: A.Data) => A.Data>): Compiled {
  return ops.size === 0
    ? { schema }
    : {
        schema,
        run: (c) => ({ length: c.length, cols: c.cols.map((d, i) => (ops.has(i) ? ops.get(i)!(d) : d)) }),
      };
}
