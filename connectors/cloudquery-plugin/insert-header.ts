/**
 * The protobuf header of the plugin wire's hot message, `{ insert: { record } }` (Sync.Response and
 * Write.Request alike): written by insert-codec.ts, read by insert-codec.ts (the whole message) and
 * by grpc-framing.ts (its first bytes, to place the record aligned).
 */

/** `insert` of Sync.Response and of Write.Request, a length-delimited field */
export const INSERT_TAG = (2 << 3) | 2;
/** `record` of MessageInsert, a length-delimited field */
export const RECORD_TAG = (1 << 3) | 2;

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    out[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** a varint at `pos`: [value, next position], or undefined when it runs past `end` or is too long */
function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] | undefined {
  let x = 0;
  let scale = 1;
  for (let i = 0; i < 8 && pos < end; i++) {
    const b = buf[pos++]!;
    x += (b & 0x7f) * scale;
    if (b < 0x80) return [x, pos];
    scale *= 128;
  }
  return undefined;
}

/**
 * The header of an insert in the first `end` bytes of `buf`: where its inner message ends, the
 * record's length and where the record starts; undefined when the bytes do not start that way.
 */
export function insertHeader(buf: Uint8Array, end: number): { innerEnd: number; length: number; start: number } | undefined {
  if (end < 4 || buf[0] !== INSERT_TAG) return undefined;
  const inner = readVarint(buf, 1, end);
  if (!inner || buf[inner[1]] !== RECORD_TAG) return undefined;
  const rec = readVarint(buf, inner[1] + 1, end);
  return rec && { innerEnd: inner[1] + inner[0], length: rec[0], start: rec[1] };
}
