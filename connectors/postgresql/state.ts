/**
 * Postgres state in CloudQuery's layout: `<table_name>(key text primary key, value text,
 * version numeric(20,0))`; on load the highest version of a key wins; a flush upserts the changed
 * keys in one transaction.
 */
import pg from 'pg';
import type { StateBackendProvider } from '../../lib/registry.js';
import { MemoryState } from '../../lib/state/types.js';

const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

export class PostgresState extends MemoryState {
  override readonly description: string;
  private constructor(
    private readonly client: pg.Client,
    private readonly table: string,
    where: string,
  ) {
    super();
    this.description = `postgres table ${table} at ${where}`;
  }

  static async open(connection: string, table: string): Promise<PostgresState> {
    const client = new pg.Client({ connectionString: connection, application_name: 'cq-pipe-state' });
    await client.connect();
    const u = new URL(connection);
    const s = new PostgresState(client, table, `${u.hostname}:${u.port || 5432}${u.pathname}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${q(table)} (key text PRIMARY KEY, value text, version numeric(20,0))`);
    const r = await client.query<{ key: string; value: string; version: string | null }>(
      `SELECT key, value, version::text AS version FROM ${q(table)} ORDER BY version NULLS FIRST`,
    );
    for (const row of r.rows) s.values.set(row.key, { value: row.value, version: BigInt(row.version ?? '0') });
    return s;
  }

  override async flush(): Promise<void> {
    if (this.dirty.size === 0) return;
    const keys = [...this.dirty];
    await this.client.query('BEGIN');
    try {
      for (const k of keys) {
        const v = this.values.get(k);
        if (v) {
          await this.client.query(
            `INSERT INTO ${q(this.table)} (key, value, version) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = ` +
              `EXCLUDED.version`,
            [k, v.value, v.version.toString()],
          );
        } else {
          await this.client.query(`DELETE FROM ${q(this.table)} WHERE key = $1`, [k]);
        }
      }
      await this.client.query('COMMIT');
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw err;
    }
    this.dirty.clear();
  }

  override async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

/** `postgres://…` / `postgresql://…` state (also `@@plugins.<postgres destination>.connection`). */
export const postgresStateBackend: StateBackendProvider = {
  schemes: ['postgres://', 'postgresql://'],
  open: (connection, table) => PostgresState.open(connection, table),
};
