/**
 * Re-export shim: the column constructors moved to lib/arrow/ (var-binary, uuid, time, bitmap).
 * Kept for importers on other branches; import from './arrow/index.js' instead. Remove after the merge.
 */
export { validityBitmap, nullData } from './arrow/bitmap.js';
export { varBinaryData, utf8Data, constantUtf8Data } from './arrow/var-binary.js';
export { constantTimestampData } from './arrow/time.js';
export { uuidData, randomUuidBytes, uuidToString, uuidFromString } from './arrow/uuid.js';
