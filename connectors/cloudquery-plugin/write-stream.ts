/**
 * One `Write` client stream to a CloudQuery plugin (docs/plugins.md): messages are sent one at a
 * time, each waiting for the stream to take it (gRPC and HTTP/2 flow control: a plugin that writes
 * slowly slows cq-pipe down instead of filling its memory). A plugin that fails a write ends the
 * whole stream with a gRPC status; from then on every send and the end of the stream fail with that
 * status, as a CqPipeError naming the plugin.
 */
import type * as grpcTypes from '@grpc/grpc-js';
import type { CqPipeError } from '../../lib/errors.js';
import { type PluginConnection, type PluginLabel, type WriteRequest, describePlugin, pluginCallError, pluginError } from './grpc-client.js';

export class PluginWriteStream {
  readonly #call: grpcTypes.ClientWritableStream<WriteRequest>;
  readonly #label: PluginLabel;
  /** settles when the plugin answered the stream (success or the status that ended it) */
  readonly #answered: Promise<void>;
  #answer: 'pending' | 'ok' | CqPipeError = 'pending';
  #ended = false;
  /** messages sent on this stream */
  sent = 0;

  constructor(conn: PluginConnection) {
    this.#label = conn.label;
    let settle!: () => void;
    this.#answered = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#call = conn.write((err) => {
      this.#answer = err ? pluginCallError(this.#label, 'Write', err) : 'ok';
      settle();
    });
    // the status also reaches the callback above; an 'error' event without a listener would crash the process
    this.#call.on('error', () => {});
  }

  /** the failure that ended the stream, if the plugin has answered with one */
  get failure(): CqPipeError | undefined {
    return typeof this.#answer === 'object' ? this.#answer : undefined;
  }

  #check(): void {
    if (typeof this.#answer === 'object') throw this.#answer;
    if (this.#answer === 'ok' && !this.#ended) {
      throw pluginError(this.#label, `${describePlugin(this.#label)}: the plugin ended its Write stream before cq-pipe did`, 'Write');
    }
  }

  /** Send one message, waiting until the stream can take more (its 'drain') or the plugin has answered. */
  async send(req: WriteRequest): Promise<void> {
    this.#check();
    this.sent++;
    if (!this.#call.write(req)) {
      let onDrain!: () => void;
      const drained = new Promise<void>((resolve) => {
        onDrain = resolve;
        this.#call.once('drain', onDrain);
      });
      await Promise.race([drained, this.#answered]);
      this.#call.removeListener('drain', onDrain);
    }
    this.#check();
  }

  /** End the stream and wait for the plugin's answer: everything sent is written, or its error is thrown. */
  async finish(): Promise<void> {
    if (!this.#ended) {
      this.#check();
      this.#ended = true;
      this.#call.end();
    }
    await this.#answered;
    this.#check();
  }

  /** Abandon the stream (a failed sync): the plugin sees it cancelled, not ended. */
  cancel(): void {
    this.#ended = true;
    if (this.#answer === 'pending') this.#call.cancel();
  }
}
