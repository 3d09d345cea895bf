/**
 * gRPC's length-prefixed framing of the plugin wire without grpc-js's copies (docs/plugins.md,
 * "Performance of the plugin wire"). The bytes on the wire do not change.
 *
 * - Receiving: grpc-js gathers a message's HTTP/2 chunks with `Buffer.concat`, at an offset that
 *   leaves an insert's Arrow record unaligned, so insert-codec.ts copied every record again for
 *   Arrow's typed arrays. The decoder below copies the chunks once into a buffer placed so that the
 *   record of an `{ insert: { record } }` message starts 8-byte aligned (read as a view).
 * - Sending: grpc-js copies every serialized message into a new buffer behind its 5-byte prefix.
 *   A message serialized with 5 bytes of headroom before it (`withHeadroom`) gets its prefix
 *   written in place instead.
 *
 * Both replace methods of grpc-js (1.14) internals: the stream decoder that client and server
 * calls use, the client's identity send handler and the server call's serializer. When grpc-js
 * no longer has them where they were, nothing is replaced and the copies stay (slower, otherwise
 * the same); test/plugin-insert-codec.test.ts asserts they are replaced.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { insertHeader } from './insert-header.js';

const require = createRequire(import.meta.url);

/** the gRPC prefix of a message: compressed flag (1 byte) and length (4 bytes, big-endian) */
const PREFIX = 5;
/** message bytes looked at to find a record's offset: two tags and two varints of up to 5 bytes */
const PROBE = 12;

/** messages serialized with PREFIX writable bytes before them in their buffer */
const headroom = new WeakSet<Uint8Array>();

/** A buffer of `length` bytes, with PREFIX bytes before it that the framing below writes its prefix into. */
export function withHeadroom(length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(PREFIX + length).subarray(PREFIX);
  headroom.add(out);
  return out;
}

/** `message` framed in place when it has headroom (the prefix written before it), else undefined */
function framedInPlace(message: Buffer): Buffer | undefined {
  if (!headroom.has(message)) return undefined;
  headroom.delete(message);
  const framed = Buffer.from(message.buffer, message.byteOffset - PREFIX, message.length + PREFIX);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  return framed;
}

/** where the record of an insert message starts, from its first bytes; 0 for any other message */
export function recordOffset(head: Uint8Array, n: number): number {
  return insertHeader(head, n)?.start ?? 0;
}

/** grpc-js's StreamDecoder: `write(chunk)` returns the messages it completes, each with its prefix */
interface StreamDecoderLike {
  maxReadMessageLength: number;
  write(data: Buffer): Buffer[];
}

interface FrameState {
  /** the prefix read so far */
  prefix: Buffer;
  prefixFill: number;
  /** the message's first bytes, kept until PROBE of them (or all) place its buffer */
  head: Buffer;
  headFill: number;
  /** the frame being filled (prefix and message), once placed */
  frame: Buffer | undefined;
  frameFill: number;
  size: number;
}

const states = new WeakMap<object, FrameState>();

/** the frame of a message of `size` bytes whose first bytes are `head`: its record (if any) 8-byte aligned */
function placeFrame(s: FrameState): Buffer {
  const offset = PREFIX + recordOffset(s.head, s.headFill);
  const pad = (8 - (offset % 8)) % 8;
  const frame = Buffer.allocUnsafeSlow(pad + PREFIX + s.size).subarray(pad);
  s.prefix.copy(frame, 0, 0, PREFIX);
  s.head.copy(frame, PREFIX, 0, s.headFill);
  s.frameFill = PREFIX + s.headFill;
  return frame;
}

/** the same messages as grpc-js's decoder, each copied once, inserts placed aligned */
function alignedWrite(this: StreamDecoderLike, data: Buffer): Buffer[] {
  let s = states.get(this);
  if (!s) {
    s = { prefix: Buffer.alloc(PREFIX), prefixFill: 0, head: Buffer.alloc(PROBE), headFill: 0, frame: undefined, frameFill: 0, size: 0 };
    states.set(this, s);
  }
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (s.prefixFill < PREFIX) {
      const n = Math.min(PREFIX - s.prefixFill, data.length - at);
      data.copy(s.prefix, s.prefixFill, at, at + n);
      s.prefixFill += n;
      at += n;
      if (s.prefixFill < PREFIX) break;
      s.size = s.prefix.readUInt32BE(1);
      if (this.maxReadMessageLength !== -1 && s.size > this.maxReadMessageLength) {
        // grpc-js's own words (its call fails with RESOURCE_EXHAUSTED)
        throw new Error(`Received message larger than max (${s.size} vs ${this.maxReadMessageLength})`);
      }
      s.headFill = 0;
      s.frame = undefined;
    }
    if (!s.frame) {
      const want = Math.min(PROBE, s.size);
      const n = Math.min(want - s.headFill, data.length - at);
      data.copy(s.head, s.headFill, at, at + n);
      s.headFill += n;
      at += n;
      if (s.headFill < want) break;
      s.frame = placeFrame(s);
    }
    const n = Math.min(PREFIX + s.size - s.frameFill, data.length - at);
    data.copy(s.frame, s.frameFill, at, at + n);
    s.frameFill += n;
    at += n;
    if (s.frameFill === PREFIX + s.size) {
      out.push(s.frame);
      s.frame = undefined;
      s.prefixFill = 0;
    }
  }
  return out;
}

type Method = (this: unknown, ...args: never[]) => unknown;

/** replace `proto[name]` once, keeping the original as `original` for `replacement` */
function replace(proto: Record<string, unknown> | undefined, name: string, make: (original: Method) => Method): boolean {
  const original = proto?.[name];
  if (typeof original !== 'function') return false;
  if ((original as { cqPipe?: boolean }).cqPipe) return true;
  const replacement = make(original as Method);
  // the original stays reachable (tests compare the two)
  Object.assign(replacement, { cqPipe: true, original });
  proto![name] = replacement;
  return true;
}

let installed: { decoder: boolean; clientSend: boolean; serverSend: boolean } | undefined;

/**
 * Replace grpc-js's framing (once per process): which of the three parts are replaced. Call before
 * the first channel or server is made.
 */
export function installFraming(): { decoder: boolean; clientSend: boolean; serverSend: boolean } {
  if (installed) return installed;
  const dir = path.dirname(require.resolve('@grpc/grpc-js'));
  const load = (file: string): Record<string, { prototype?: Record<string, unknown> } | undefined> => {
    try {
      return require(path.join(dir, file));
    } catch {
      return {};
    }
  };
  const decoder = replace(load('./stream-decoder.js').StreamDecoder?.prototype, 'write', () => alignedWrite as Method);
  // the client's send handler is the class of a compression filter's `sendCompression` (not exported)
  let clientSend = false;
  const Filter = load('./compression-filter.js').CompressionFilter as unknown as (new (o: object, c: object) => { sendCompression?: object }) | undefined;
  try {
    const identity = Filter ? Object.getPrototypeOf(new Filter({}, {}).sendCompression ?? null) : undefined;
    clientSend = replace(
      identity,
      'writeMessage',
      (original) =>
        function (this: unknown, message: Buffer, compress: boolean) {
          return (!compress && framedInPlace(message)) || (original as (this: unknown, m: Buffer, c: boolean) => unknown).call(this, message, compress);
        } as Method,
    );
  } catch {
    clientSend = false;
  }
  // the server call's serializer, as grpc-js's: the handler's bytes behind a prefix whose flag is 0
  const serverSend = replace(
    load('./server-interceptors.js').BaseServerInterceptingCall?.prototype,
    'serializeMessage',
    () =>
      function (this: { handler: { serialize(v: unknown): Buffer } }, value: unknown) {
        const message = this.handler.serialize(value);
        const inPlace = framedInPlace(message);
        if (inPlace) return inPlace;
        const framed = Buffer.allocUnsafe(message.length + PREFIX);
        framed[0] = 0;
        framed.writeUInt32BE(message.length, 1);
        message.copy(framed, PREFIX);
        return framed;
      } as Method,
  );
  installed = { decoder, clientSend, serverSend };
  return installed;
}
