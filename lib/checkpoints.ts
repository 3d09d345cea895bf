/**
 * The checkpoint protocol (SPEC §4): a source's `checkpoint` message becomes durable state only
 * once every destination has committed every row before it. Each destination's BatchWriter acks a
 * checkpoint after its commit; when the last destination acks, the values are set and flushed.
 * A destination that fails never acks, so the state never moves past its uncommitted rows.
 */
import type { CheckpointMessage } from './messages.js';
import type { StateBackend } from './state/index.js';
import type { Logger } from './logger.js';

export class CheckpointTracker {
  #pending = new Map<string, number>();
  #chain: Promise<void> = Promise.resolve();
  /** checkpoints made durable */
  persisted = 0;

  constructor(private readonly destinations: number, private readonly state: StateBackend, private readonly logger: Logger) {}

  /** called by each destination, in its message order, after committing */
  ack(msg: CheckpointMessage): Promise<void> {
    const n = (this.#pending.get(msg.id) ?? 0) + 1;
    if (n < this.destinations) {
      this.#pending.set(msg.id, n);
      return Promise.resolve();
    }
    this.#pending.delete(msg.id);
    // flushes in acknowledgement order, one at a time
    this.#chain = this.#chain.then(async () => {
      // an empty value removes the key (e.g. a finished resumable read)
      for (const [k, v] of Object.entries(msg.state)) { if (v === '') this.state.delete(k); else this.state.set(k, v); }
      await this.state.flush();
      this.persisted++;
      this.logger.debug('checkpoint persisted', { checkpoint: msg.id, keys: Object.keys(msg.state).join(',') });
    });
    return this.#chain;
  }
}
