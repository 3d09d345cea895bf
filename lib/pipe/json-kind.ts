/** What a parsed JSON value is, for the text pipe formats' checks and error messages. */

/** a JSON object (not an array, not null) */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "an array", "null", "a string", … — for "must be a JSON object, not …" */
export function jsonKind(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
