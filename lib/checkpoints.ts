/**
 * The checkpoint protocol (docs/semantics.md): a source's `checkpoint` message becomes durable state only
 * once every destination has committed every row before it. Each destination's BatchWriter acks a
 * checkpoint after its commit; when the last destination acks, the values are set and flushed.
 * A destination that fails never acks, so the state never moves past its uncommitted rows; one
 * that failed only the checkpoint's table reports it with `committed: false`, and the checkpoint
 * is dropped (the table's state stays where it was, the other tables go on).
 */
import type { CheckpointMessage } from './messages.js';
import { flushState, type StateBackend } from './state/index.js';
import type { Logger } from './logger.js';

export class CheckpointTracker {
  #pending = new Map<string, { acks: number; refused: boolean }>();
  #chain: Promise<void> = Promise.resolve();
  /** checkpoints made durable */
  persisted = 0;

  constructor(
    private readonly destinations: number,
    private readonly state: StateBackend,
    private readonly logger: Logger,
  ) {}

  /** checkpoints dropped because a destination failed their table */
  refused = 0;

  /**
   * Called by each destination, in its message order, after committing; `committed: false` when
   * the destination failed the checkpoint's table (its rows are not all there).
   */
  ack(msg: CheckpointMessage, committed = true): Promise<void> {
    const p = this.#pending.get(msg.id) ?? { acks: 0, refused: false };
    p.acks++;
    p.refused ||= !committed;
    if (p.acks < this.destinations) {
      this.#pending.set(msg.id, p);
      return Promise.resolve();
    }
    this.#pending.delete(msg.id);
    if (p.refused) {
      this.refused++;
      this.logger.debug('checkpoint dropped: a destination failed its table', { checkpoint: msg.id, table: msg.table });
      return this.#chain;
    }
    // flushes in acknowledgement order, one at a time
    this.#chain = this.#chain.then(async () => {
      // an empty value removes the key (e.g. a finished resumable read)
      for (const [k, v] of Object.entries(msg.state)) {
        if (v === '') this.state.delete(k);
        else this.state.set(k, v);
      }
      await flushState(this.state);
      this.persisted++;
      this.logger.debug('checkpoint persisted', { checkpoint: msg.id, keys: Object.keys(msg.state).join(',') });
    });
    return this.#chain;
  }
}
