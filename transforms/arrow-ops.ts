/**
 * Re-export shim: the column-wise helpers of the transformers moved to lib/arrow/ (bitmap,
 * var-binary, take). Kept while transforms/basic.ts and jsonflattener.ts import from here;
 * import from '../lib/arrow/index.js' instead. Remove after the merge.
 */
import { validityBitmap } from '../lib/arrow/bitmap.js';

export { nullTest } from '../lib/arrow/bitmap.js';
export { encoder, decoder, isVarBinary, varBytes, varData, mapVarColumn, bytesEqual } from '../lib/arrow/var-binary.js';
export { takeData, takeRows } from '../lib/arrow/take.js';

/** Validity bitmap (bit set = valid) for n rows from an "is null" predicate; use validityBitmap (an "is valid" predicate). */
export function bitmapOf(n: number, isNull: (i: number) => boolean): { bitmap?: Uint8Array; nullCount: number } {
  return validityBitmap(n, (i) => !isNull(i));
}
