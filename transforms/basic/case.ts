/** `uppercase` and `lowercase`: string columns, string values of json columns, or strings at JSON paths (docs/transformers.md). */
import type * as A from 'apache-arrow';
import { typeName } from '../../lib/types.js';
import { decoder, encoder, mapVarColumn } from '../../lib/arrow/index.js';
import { editJsonColumn, isJsonField, isStringField, replaceCols, splitColumns } from './columns.js';
import { getAt, locate, setAt } from './json-path.js';
import { COLUMNS, type KindOp } from './transformation.js';

/** Upper/lower-case UTF-8 bytes: a byte loop for ASCII, String case mapping otherwise. */
function changeCase(bytes: Uint8Array, upper: boolean): Uint8Array {
  let ascii = true;
  let changes = false;
  for (let k = 0; k < bytes.length; k++) {
    const b = bytes[k]!;
    if (b >= 0x80) {
      ascii = false;
      break;
    }
    if (upper ? b >= 0x61 && b <= 0x7a : b >= 0x41 && b <= 0x5a) changes = true;
  }
  if (ascii) {
    if (!changes) return bytes;
    const out = new Uint8Array(bytes.length);
    for (let k = 0; k < bytes.length; k++) {
      const b = bytes[k]!;
      out[k] = upper ? (b >= 0x61 && b <= 0x7a ? b - 32 : b) : b >= 0x41 && b <= 0x5a ? b + 32 : b;
    }
    return out;
  }
  const s = decoder.decode(bytes);
  return encoder.encode(upper ? s.toUpperCase() : s.toLowerCase());
}

function caseKind(upper: boolean): KindOp {
  return {
    keys: { required: ['columns'], properties: { columns: COLUMNS } },
    compile: (t, fail) => (schema) => {
      const { plain, paths } = splitColumns(schema, t.columns!, fail);
      const caseString = (s: string) => (upper ? s.toUpperCase() : s.toLowerCase());
      /** every string value of a JSON document (object keys are kept) */
      const caseAll = (node: unknown): unknown => {
        if (typeof node === 'string') return caseString(node);
        if (Array.isArray(node)) return node.map(caseAll);
        if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, caseAll(v)]));
        return node;
      };
      const ops = new Map<number, (d: A.Data) => A.Data>();
      for (const i of plain) {
        const f = schema.fields[i]!;
        if (isStringField(f)) ops.set(i, (d) => mapVarColumn(d, (bytes) => changeCase(bytes, upper)));
        else if (isJsonField(f)) {
          ops.set(i, (d) =>
            mapVarColumn(d, (bytes) => {
              try {
                return encoder.encode(JSON.stringify(caseAll(JSON.parse(decoder.decode(bytes)))));
              } catch {
                return bytes;
              }
            }),
          );
        } else fail(schema, `column ${f.name} is ${typeName(f)}, not a string or JSON column`, 'columns', f.name);
      }
      for (const [i, ps] of paths) {
        ops.set(i, (d) =>
          editJsonColumn(d, (root) => {
            let changed = false;
            for (const p of ps) {
              for (const l of locate(root, p)) {
                const v = getAt(l);
                if (typeof v === 'string' && caseString(v) !== v) {
                  setAt(l, caseString(v));
                  changed = true;
                }
              }
            }
            return changed;
          }),
        );
      }
      return replaceCols(schema, ops);
    },
  };
}

export const uppercase: KindOp = caseKind(true);
export const lowercase: KindOp = caseKind(false);
