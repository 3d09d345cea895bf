/**
 * Between the timed runs of the bench: Postgres' dirty buffers written out (`CHECKPOINT`, when a
 * server is given and the role may) and then the kernel's dirty pages (`sync`), so that no run is
 * timed writing back what the run before it left (the later run of a pair would otherwise pay for
 * the earlier one's WAL, heap and files: an order bias against whatever is timed second).
 */
import { spawnSync } from 'node:child_process';
import pg from 'pg';

export async function settle(postgresUrl?: string): Promise<void> {
  if (postgresUrl) {
    const c = new pg.Client({ connectionString: postgresUrl });
    try {
      await c.connect();
      await c.query('CHECKPOINT');
    } catch {
      // a role without the right to CHECKPOINT (an external server): the kernel's part still runs
    } finally {
      await c.end().catch(() => {});
    }
  }
  spawnSync('sync');
}
