/**
 * Postgres state in CloudQuery's layout: `<table_name>(key text primary key, value text,
 * version numeric(20,0))`; on load the highest version of a key wins; a flush upserts the changed
 * keys in one transaction.
 */
import pg from 'pg';
import type { StateBackendProvider } from '../../lib/registry.js';
import { MemoryState } from '../../lib/state/types.js';
import { pgConnection } from './connection.js';

const q = (s: string) => `"${s.replace(/"/g, '""')}"`;

export class PostgresState extends MemoryState {
  override readonly description: string;
  private constructor(
    private readonly client: pg.Client,
    /** quoted, schema-qualified when the connection sets a search_path */
    private readonly table: string,
    where: string,
  ) {
    super();
    this.description = `postgres table ${table} at ${where}`;
  }

  static async open(connection: string, table: string): Promise<PostgresState> {
    const conn = pgConnection(connection, 'spec.backend_options.connection');
    const client = new pg.Client({ connectionString: conn.connectionString, application_name: 'cq-pipe-state' });
    await client.connect();
    // the table lives in the first schema of the connection's search_path, else in public
    const qualified = conn.schema ? `${q(conn.schema)}.${q(table)}` : q(table);
    const s = new PostgresState(client, qualified, conn.where);
    try {
      // CREATE SCHEMA needs CREATE on the database even when the schema exists: only when it is missing
      const missing = conn.schema ? (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [conn.schema])).rowCount === 0 : false;
      if (missing) await client.query(`CREATE SCHEMA IF NOT EXISTS ${q(conn.schema!)}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${qualified} (key text PRIMARY KEY, value text, version numeric(20,0))`);
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    const r = await client.query<{ key: string; value: string; version: string | null }>(
      `SELECT key, value, version::text AS version FROM ${qualified} ORDER BY version NULLS FIRST`,
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
            `INSERT INTO ${this.table} (key, value, version) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = ` +
              `EXCLUDED.version`,
            [k, v.value, v.version.toString()],
          );
        } else {
          await this.client.query(`DELETE FROM ${this.table} WHERE key = $1`, [k]);
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

/**
 * `postgres://…` / `postgresql://…` or keyword/value (`host=… dbname=…`) state (also
 * `@@plugins.<postgres destination>.connection`; connectors/index.ts routes keyword/value strings here).
 */
export const postgresStateBackend: StateBackendProvider = {
  schemes: ['postgres://', 'postgresql://'],
  open: (connection, table) => PostgresState.open(connection, table),
};
