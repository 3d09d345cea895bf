/**
 * `obfuscate_columns_except`: CloudQuery's opt-in redaction. `columns` is an allowlist of columns and
 * JSON paths to keep; `_cq_*` columns pass through; everything else is dropped (`unmatched: drop`,
 * the default), collapsed to one marker per object/array (`collapse`) or redacted value by value
 * (`redact`). Top-level columns other than string, binary and JSON are dropped in every mode
 * (docs/transformers.md).
 */
import * as A from 'apache-arrow';
import { extensionOf, typeName } from '../../lib/types.js';
import { MD_PRIMARY_KEY } from '../../lib/schema.js';
import { decoder, encoder, mapVarColumn } from '../../lib/arrow/index.js';
import { isJsonField, isStringField } from './columns.js';
import { goMarshal, parseGoJson, type GoJson } from './go-json.js';
import { REDACTED, REDACTED_JSON_KEY, redactValue, sha256hex } from './redact.js';
import { COLUMNS, INCLUDE_SHA, type Fail, type KindOp } from './transformation.js';

export const UNMATCHED_MODES = ['drop', 'collapse', 'redact'] as const;
export type Unmatched = (typeof UNMATCHED_MODES)[number];

const RESERVED = /^_cq_/;
/** a node the walk removes (drop mode) */
const GONE = Symbol('gone');
type Walked = GoJson | typeof GONE;

/** CloudQuery's path split for this kind: only `\.` is an escape (a dot inside a key). */
function splitExceptPath(p: string): string[] {
  const segs: string[] = [];
  let cur = '';
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\' && p[i + 1] === '.') {
      cur += '.';
      i++;
    } else if (p[i] === '.') {
      segs.push(cur);
      cur = '';
    } else cur += p[i];
  }
  segs.push(cur);
  return segs;
}

const isIndex = (seg: string) => /^\d+$/.test(seg);
/** does pattern segment `p` match path segment `s` (`#` matches any array index) */
const segMatch = (p: string, s: string) => (p === '#' ? isIndex(s) : p === s);
/** the path is at or below an allowlisted path */
const kept = (path: string[], pats: string[][]) => pats.some((p) => p.length <= path.length && p.every((seg, k) => segMatch(seg, path[k]!)));
/** an allowlisted path lies strictly below the path */
const leadsToKept = (path: string[], pats: string[][]) => pats.some((p) => p.length > path.length && path.every((seg, k) => segMatch(p[k]!, seg)));

function marker(node: GoJson, includeSha: boolean): string {
  return redactValue(goMarshal(node, true), includeSha);
}

function redactLeaves(node: GoJson, includeSha: boolean): GoJson {
  if (node === null) return null;
  if (Array.isArray(node)) return node.map((x) => redactLeaves(x, includeSha));
  if (node instanceof Map) return new Map([...node].map(([k, v]) => [k, redactLeaves(v, includeSha)]));
  return marker(node, includeSha);
}

function dead(node: GoJson, includeSha: boolean, mode: Unmatched): Walked {
  if (mode === 'drop') return GONE;
  return mode === 'collapse' ? marker(node, includeSha) : redactLeaves(node, includeSha);
}

/** CloudQuery's walk: kept paths stay whole; objects and arrays on the way to a kept path are entered; the rest is dead. */
function walk(node: GoJson, path: string[], pats: string[][], includeSha: boolean, mode: Unmatched): Walked {
  if (kept(path, pats)) return node;
  if (node instanceof Map || Array.isArray(node)) {
    if (!leadsToKept(path, pats)) return dead(node, includeSha, mode);
    if (Array.isArray(node)) {
      const out: GoJson[] = [];
      node.forEach((v, k) => {
        const w = walk(v, [...path, String(k)], pats, includeSha, mode);
        if (w !== GONE) out.push(w);
      });
      return out;
    }
    const out = new Map<string, GoJson>();
    for (const [k, v] of node) {
      const w = walk(v, [...path, k], pats, includeSha, mode);
      if (w !== GONE) out.set(k, w);
    }
    return out;
  }
  if (node === null) return mode === 'drop' ? GONE : null;
  return dead(node, includeSha, mode);
}

/** `{"redacted_by_cloudquery": …}` in place of a whole JSON value */
function wholeJsonMarker(bytes: Uint8Array, includeSha: boolean): Uint8Array {
  return encoder.encode(JSON.stringify({ [REDACTED_JSON_KEY]: includeSha ? sha256hex(bytes) : REDACTED }));
}

/** one JSON cell with only the allowlisted paths left as they were (invalid JSON: the whole-value marker) */
function exceptCell(bytes: Uint8Array, pats: string[][], includeSha: boolean, mode: Unmatched): Uint8Array {
  let root: GoJson;
  try {
    root = parseGoJson(decoder.decode(bytes));
  } catch {
    return wholeJsonMarker(bytes, includeSha);
  }
  const w = walk(root, [], pats, includeSha, mode);
  return encoder.encode(w === GONE ? 'null' : goMarshal(w, false));
}

const isBinaryField = (f: A.Field) => (f.typeId === A.Type.Binary || f.typeId === A.Type.LargeBinary) && !extensionOf(f);
const isPrimaryKey = (f: A.Field) => f.metadata.get(MD_PRIMARY_KEY) === 'true';

function checkPrimaryKeys(schema: A.Schema, whole: Set<string>, sub: Map<string, string[][]>, includeSha: boolean, mode: Unmatched, fail: Fail) {
  for (const f of schema.fields) {
    if (RESERVED.test(f.name) || !isPrimaryKey(f) || whole.has(f.name)) continue;
    const json = isJsonField(f);
    if (sub.has(f.name) && json) continue;
    const redactable = json || isStringField(f) || isBinaryField(f);
    const add = `add "${f.name}" to the allowlist`;
    if (mode === 'drop') {
      fail(
        schema,
        `primary-key column "${f.name}" is not on the allowlist; with unmatched=drop it would be removed and break row identity`,
        'columns',
        f.name,
        add,
      );
    } else if (!redactable) {
      fail(schema, `primary-key column "${f.name}" has type ${typeName(f)} that cannot be redacted in place, so it would be dropped`, 'columns', f.name, add);
    } else if (!includeSha) {
      fail(
        schema,
        `primary-key column "${f.name}" is not on the allowlist; with include_sha=false its redacted value is identical for every row`,
        'columns',
        f.name,
        `${add} or use include_sha: true`,
      );
    }
  }
}

export const obfuscateColumnsExcept: KindOp = {
  keys: {
    required: ['columns'],
    properties: { columns: COLUMNS, include_sha: INCLUDE_SHA, unmatched: { type: 'string', enum: [...UNMATCHED_MODES, ''], default: 'drop' } },
  },
  compile: (t, fail) => {
    const whole = new Set<string>();
    const sub = new Map<string, string[][]>();
    for (const c of t.columns ?? []) {
      const dot = c.indexOf('.');
      if (dot < 0) whole.add(c);
      else sub.set(c.slice(0, dot), [...(sub.get(c.slice(0, dot)) ?? []), splitExceptPath(c.slice(dot + 1))]);
    }
    const includeSha = t.include_sha !== false;
    const mode: Unmatched = t.unmatched || 'drop';
    return (schema) => {
      const names = new Set(schema.fields.map((f) => f.name));
      const missing = [...new Set([...whole, ...sub.keys()])].filter((n) => !names.has(n)).sort();
      if (missing.length) fail(schema, `obfuscate_columns_except allowlist references unknown column(s): ${missing.join(', ')}`, 'columns', missing[0]);
      checkPrimaryKeys(schema, whole, sub, includeSha, mode, fail);
      const fields: A.Field[] = [];
      const picks: { from: number; op?: (d: A.Data) => A.Data }[] = [];
      schema.fields.forEach((f, from) => {
        const json = isJsonField(f);
        const pats = sub.get(f.name);
        let op: ((d: A.Data) => A.Data) | undefined;
        if (RESERVED.test(f.name) || whole.has(f.name)) op = undefined;
        else if (pats) {
          if (!json) fail(schema, `column "${f.name}" is referenced with a nested path in the allowlist but is not a JSON column`, 'columns', f.name);
          op = (d) => mapVarColumn(d, (bytes) => exceptCell(bytes, pats, includeSha, mode));
        } else if (mode === 'drop') return;
        else if (isStringField(f) || isBinaryField(f)) {
          const fixed = includeSha ? undefined : encoder.encode(REDACTED);
          op = (d) => mapVarColumn(d, (bytes) => fixed ?? encoder.encode(redactValue(bytes, true)));
        } else if (json) op = (d) => mapVarColumn(d, (bytes) => wholeJsonMarker(bytes, includeSha));
        else return; // numbers, timestamps, lists, structs, uuid, inet: dropped rather than retyped
        fields.push(f);
        picks.push({ from, ...(op ? { op } : {}) });
      });
      if (!fields.length) fail(schema, 'obfuscate_columns_except would drop every column; allowlist at least one column', 'columns');
      if (fields.length === schema.fields.length && picks.every((p) => !p.op)) return { schema };
      return {
        schema: new A.Schema(fields, schema.metadata),
        run: (c) => ({ length: c.length, cols: picks.map((p) => (p.op ? p.op(c.cols[p.from]!) : c.cols[p.from]!)) }),
      };
    };
  },
};
