/**
 * uuid columns (FixedSizeBinary(16), CloudQuery's uuid extension storage): building them, random
 * v4 bytes, and the canonical 8-4-4-4-12 text both ways (as a JS string or as ASCII bytes).
 */
import * as A from 'apache-arrow';
import { validityBitmap } from './bitmap.js';

/** FixedSizeBinary(16) column (uuid storage) from 16·n bytes; `valid` marks non-null rows. */
export function uuidData(bytes: Uint8Array, length: number, valid?: (i: number) => boolean): A.Data<A.FixedSizeBinary> {
  const { bitmap, nullCount } = valid ? validityBitmap(length, valid) : { bitmap: undefined, nullCount: 0 };
  return A.makeData({ type: new A.FixedSizeBinary(16), length, nullCount, nullBitmap: bitmap, data: bytes });
}

/** Random UUIDv4 bytes for n rows. */
export function randomUuidBytes(n: number, fill: (buf: Uint8Array) => void): Uint8Array {
  const out = new Uint8Array(16 * n);
  fill(out);
  for (let i = 0; i < n; i++) {
    out[i * 16 + 6] = (out[i * 16 + 6]! & 0x0f) | 0x40;
    out[i * 16 + 8] = (out[i * 16 + 8]! & 0x3f) | 0x80;
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Canonical string of the uuid at `offset` in `bytes`. */
export function uuidToString(bytes: Uint8Array, offset = 0): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[bytes[offset + i]!];
  }
  return s;
}

/** ASCII codes of the lowercase hex digits */
const HEX_ASCII = new Uint8Array(16);
for (let i = 0; i < 16; i++) HEX_ASCII[i] = '0123456789abcdef'.charCodeAt(i);

/** the ASCII hex digits of each byte value: high nibble at 2·x, low at 2·x + 1 */
const HEX_PAIRS = new Uint8Array(512);
for (let x = 0; x < 256; x++) {
  HEX_PAIRS[2 * x] = HEX_ASCII[x >> 4]!;
  HEX_PAIRS[2 * x + 1] = HEX_ASCII[x & 15]!;
}

/** the two hex digits of `src[from]` into `out` at `p` */
function hexByte(out: Uint8Array, p: number, src: Uint8Array, from: number): void {
  const x = 2 * src[from]!;
  out[p] = HEX_PAIRS[x]!;
  out[p + 1] = HEX_PAIRS[x + 1]!;
}

/**
 * Write the canonical text (36 ASCII bytes) of the uuid at `src[from..from+16)` into `out` at `p`;
 * returns the position after it. The caller makes room. Unrolled, at fixed offsets: this runs per
 * uuid of every Parquet, NDJSON and CSV file written.
 */
export function writeUuidText(out: Uint8Array, p: number, src: Uint8Array, from: number): number {
  hexByte(out, p, src, from);
  hexByte(out, p + 2, src, from + 1);
  hexByte(out, p + 4, src, from + 2);
  hexByte(out, p + 6, src, from + 3);
  out[p + 8] = 0x2d;
  hexByte(out, p + 9, src, from + 4);
  hexByte(out, p + 11, src, from + 5);
  out[p + 13] = 0x2d;
  hexByte(out, p + 14, src, from + 6);
  hexByte(out, p + 16, src, from + 7);
  out[p + 18] = 0x2d;
  hexByte(out, p + 19, src, from + 8);
  hexByte(out, p + 21, src, from + 9);
  out[p + 23] = 0x2d;
  for (let k = 0; k < 6; k++) hexByte(out, p + 24 + 2 * k, src, from + 10 + k);
  return p + 36;
}

/** hex digit value by char code, -1 for anything else */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}

/**
 * 16 bytes of a uuid string (canonical 8-4-4-4-12, or 32 bare hex digits), or undefined when it is
 * not one. Parsed by char codes: this runs once per value on the hot path of text sources.
 */
export function uuidFromString(s: string, out = new Uint8Array(16), offset = 0): Uint8Array | undefined {
  const len = s.length;
  if (len !== 36 && len !== 32) return undefined;
  for (let i = 0; i < len; i++) SCRATCH[i] = s.charCodeAt(i);
  return uuidFromCodes(SCRATCH, 0, len, out, offset);
}

/** scratch for the code units of a uuid string */
const SCRATCH = new Uint16Array(36);

/** uuidFromString of the code units (UTF-16, or bytes of ASCII text) s[start, start + len) */
export function uuidFromCodes(s: Uint16Array | Uint8Array, start: number, len: number, out: Uint8Array, offset: number): Uint8Array | undefined {
  const dashed = len === 36;
  if (!dashed && len !== 32) return undefined;
  if (dashed && (s[start + 8] !== 45 || s[start + 13] !== 45 || s[start + 18] !== 45 || s[start + 23] !== 45)) return undefined;
  let p = start;
  for (let i = 0; i < 16; i++) {
    if (dashed && (p === start + 8 || p === start + 13 || p === start + 18 || p === start + 23)) p++;
    const a = s[p]!;
    const b = s[p + 1]!;
    const hi = a < 128 ? HEX_VALUE[a]! : -1;
    const lo = b < 128 ? HEX_VALUE[b]! : -1;
    if (hi < 0 || lo < 0) return undefined;
    out[offset + i] = (hi << 4) | lo;
    p += 2;
  }
  return out;
}
