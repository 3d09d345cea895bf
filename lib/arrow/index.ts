/** Arrow kernels: validity bitmaps, variable-length columns, take/filter, uuid, time, decimal, run-time makeData. */
export * from './bitmap.js';
export * from './var-binary.js';
export * from './take.js';
export * from './uuid.js';
export * from './time.js';
export * from './decimal.js';
export * from './data.js';
