/**
 * Values nested too deeply for the engine's recursive conversions (a JSON record 5,000 arrays
 * deep): such a record fails its table naming file and line, not a stack overflow.
 */

/** how deeply arrays and objects nest in `v` (0 for a scalar), counted without recursion */
export function nestingDepth(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    for (const c of Array.isArray(x) ? x : Object.values(x)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
  return max;
}

/** a stack overflow (V8's RangeError), which deep nesting causes in recursive code */
export function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** the index of the most deeply nested of `rows`, and its depth */
export function deepest(rows: readonly unknown[]): { index: number; depth: number } {
  let best = { index: -1, depth: -1 };
  rows.forEach((r, index) => {
    const depth = nestingDepth(r);
    if (depth > best.depth) best = { index, depth };
  });
  return best;
}
