/**
 * The Parquet decoder of the file source (./parquet.ts), run in a worker thread so that a
 * WebAssembly trap of parquet-wasm (`RuntimeError: unreachable` on a damaged page) ends this
 * thread, never the process: the main thread then fails the file's table naming the file and the
 * row group (docs/bad-input.md).
 *
 * One file at a time. The main thread sends `open` with the file's size; the worker reads the
 * file through a Blob whose byte ranges it asks the main thread for (`read`, answered by `bytes`,
 * or by nothing when the read failed: the main thread then reports the read error and stops this
 * worker), and answers `opened` with the schema (Arrow IPC) and each row group's compressed size.
 * Each `group` is answered by the row group as Arrow IPC stream bytes (transferred); `close`
 * frees the file and the worker waits for the next `open`. A decoding error that parquet-wasm
 * reports as an exception is answered by `error`; a trap is left uncaught, so the thread dies.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

/** `workerData` of a decoder started by ./parquet.ts */
export const DECODER_TAG = 'cq-pipe:parquet-decoder';

export type DecoderRequest =
  | { t: 'open'; size: number }
  | { t: 'bytes'; id: number; bytes: Uint8Array }
  | { t: 'group'; g: number; batchRows: number }
  | { t: 'close' };

export type DecoderReply =
  | { t: 'opened'; schema: Uint8Array; groups: number[] }
  | { t: 'read'; id: number; start: number; end: number }
  | { t: 'group'; g: number; ipc: Uint8Array }
  | { t: 'error'; message: string };

type ParquetWasm = typeof import('parquet-wasm');

function serve(post: (reply: DecoderReply, transfer?: ArrayBuffer[]) => void): (req: DecoderRequest) => void {
  const waiting = new Map<number, (bytes: Uint8Array) => void>();
  let nextId = 1;
  let pw: ParquetWasm | undefined;
  let pf: import('parquet-wasm').ParquetFile | undefined;

  /** a Blob over the main thread's input: each read is one round trip */
  const remote = (start: number, end: number): Blob => {
    const blob = {
      size: end - start,
      slice(s = 0, e = end - start) {
        const len = end - start;
        const clamp = (x: number) => Math.max(0, Math.min(len, x < 0 ? len + x : x));
        return remote(start + clamp(s), start + clamp(e));
      },
      arrayBuffer(): Promise<ArrayBuffer> {
        const id = nextId++;
        return new Promise((resolve) => {
          waiting.set(id, (bytes) => resolve(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer));
          post({ t: 'read', id, start, end });
        });
      },
    };
    return blob as unknown as Blob;
  };

  const fail = (err: unknown) => post({ t: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });

  return (req) => {
    switch (req.t) {
      case 'bytes': {
        const resolve = waiting.get(req.id);
        waiting.delete(req.id);
        resolve?.(req.bytes);
        return;
      }
      case 'open':
        void (async () => {
          pw ??= await import('parquet-wasm');
          pf = await pw.ParquetFile.fromFile(remote(0, req.size));
          const md = pf.metadata();
          const groups = Array.from({ length: md.numRowGroups() }, (_, g) => md.rowGroup(g).compressedSize());
          const schema = pf.schema().intoIPCStream();
          post({ t: 'opened', schema, groups }, [schema.buffer as ArrayBuffer]);
        })().catch(fail);
        return;
      case 'group':
        void (async () => {
          if (!pf) throw new Error('no file is open');
          const table = await pf.read({ rowGroups: [req.g], batchSize: req.batchRows });
          const ipc = table.intoIPCStream();
          post({ t: 'group', g: req.g, ipc }, [ipc.buffer as ArrayBuffer]);
        })().catch(fail);
        return;
      case 'close':
        pf?.free();
        pf = undefined;
        waiting.clear();
        return;
    }
  };
}

if (!isMainThread && workerData === DECODER_TAG && parentPort) {
  const port = parentPort;
  const handle = serve((reply, transfer) => port.postMessage(reply, transfer ?? []));
  port.on('message', (req: DecoderRequest) => handle(req));
}
