/**
 * What a format writer writes into: a local temp file (FileSink) or an S3 object upload
 * (connectors/s3/sink.ts). `write` resolves once the sink can take more (backpressure), `end`
 * once every byte is durable where it goes, `discard` drops whatever was written.
 */
export interface ByteSink {
  /** where the bytes go, for messages: a temp file path or s3://bucket/key */
  readonly path: string;
  /**
   * write a chunk; resolves when the sink is below its high-water mark again. `give`: the chunk's
   * whole buffer is the sink's from now on (it may free it once written; FileSink does)
   */
  write(chunk: Uint8Array | string, give?: boolean): Promise<void>;
  /** flush and close; resolves when every byte is stored */
  end(): Promise<void>;
  /** stop writing and remove what was written; never throws */
  discard(): Promise<void>;
}
