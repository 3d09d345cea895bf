/** gjson-style JSON paths inside json columns (`doc.tags.#.v`), as the `basic` kinds use them (docs/transformers.md). */

/** Split a gjson-style path on unescaped dots (`a.b\.c.0` → a, b.c, 0). */
export function splitPath(p: string): string[] {
  const segs: string[] = [];
  let cur = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\' && i + 1 < p.length) {
      cur += p[++i];
    } else if (c === '.') {
      segs.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  segs.push(cur);
  return segs;
}

export type Loc = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** Every location a path names in a parsed JSON value (`#` = every array element). */
export function locate(root: unknown, segs: string[]): Loc[] {
  const out: Loc[] = [];
  const walk = (node: unknown, i: number): void => {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (Array.isArray(node)) {
      const visit = (k: number) => (last ? out.push({ parent: node, key: k }) : walk(node[k], i + 1));
      if (seg === '#') for (let k = 0; k < node.length; k++) visit(k);
      else if (/^\d+$/.test(seg) && Number(seg) < node.length) visit(Number(seg));
    } else if (node !== null && typeof node === 'object' && Object.hasOwn(node, seg)) {
      if (last) out.push({ parent: node as Record<string, unknown>, key: seg });
      else walk((node as Record<string, unknown>)[seg], i + 1);
    }
  };
  walk(root, 0);
  return out;
}

export function getAt(l: Loc): unknown {
  return (l.parent as Record<string | number, unknown>)[l.key];
}
export function setAt(l: Loc, v: unknown): void {
  (l.parent as Record<string | number, unknown>)[l.key] = v;
}
