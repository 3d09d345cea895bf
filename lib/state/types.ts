/**
 * Incremental state (docs/incremental.md): string keys (chosen by the source,
 * usually a table name) to string values (a cursor). Values become durable only on flush(), which
 * the engine calls once every destination has committed the rows before a checkpoint.
 */
export interface StateBackend {
  /** where the state lives, for messages (never includes a password) */
  readonly description: string;
  get(key: string): string | undefined;
  /** every key and value */
  entries(): Map<string, string>;
  /** stage a value; unchanged values are ignored */
  set(key: string, value: string): void;
  /** stage removing a key */
  delete(key: string): void;
  /** make every staged change durable */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A backend without storage: every sync starts from scratch (no backend_options). */
export class MemoryState implements StateBackend {
  readonly description: string = 'memory (no backend_options: state is not kept between syncs)';
  protected values = new Map<string, { value: string; version: bigint }>();
  protected dirty = new Set<string>();

  get(key: string): string | undefined {
    return this.values.get(key)?.value;
  }
  entries(): Map<string, string> {
    return new Map([...this.values].map(([k, v]) => [k, v.value]));
  }
  set(key: string, value: string): void {
    const prior = this.values.get(key);
    if (prior?.value === value) return;
    this.values.set(key, { value, version: (prior?.version ?? 0n) + 1n });
    this.dirty.add(key);
  }
  delete(key: string): void {
    if (!this.values.has(key)) return;
    this.values.delete(key);
    this.dirty.add(key);
  }
  async flush(): Promise<void> {
    this.dirty.clear();
  }
  async close(): Promise<void> {}
}
