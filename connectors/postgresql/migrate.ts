/**
 * Migrations (docs/postgresql.md, "Migrations"): compare each table's Arrow schema with the catalog and
 * plan DDL. Safe changes (create, add nullable column, lossless widening, dropping NOT NULL,
 * dropping a unique constraint, moving the key to _cq_id) run in place; anything else is listed,
 * for every table at once, and fails `safe` before any data is written; `forced` drops and
 * recreates those tables unless views depend on them. All of it runs in one transaction under an
 * advisory lock, so parallel shards cannot race.
 */
import type * as A from 'apache-arrow';
import type pg from 'pg';
import { SchemaIncompatibleError } from '../../lib/errors.js';
import { isUnique, primaryKeys, tableName, CQ_SOURCE_NAME, CQ_SYNC_TIME } from '../../lib/schema.js';
import { typeName } from '../../lib/types.js';
import type { MigrateMode } from '../../lib/messages.js';
import { dependentViews, pgIdent, quoteIdent, readTables, type ExistingTable } from './catalog.js';
import { canWiden, pgTypeOf, takes } from './types.js';

export interface WantedColumn {
  name: string;
  field: A.Field;
  type: string;
  notNull: boolean;
}

export interface WantedTable {
  name: string;
  columns: WantedColumn[];
  pk: string[];
  unique: string[];
}

export function wantedTable(schema: A.Schema): WantedTable {
  const pk = primaryKeys(schema).map(pgIdent);
  return {
    name: pgIdent(tableName(schema)),
    columns: schema.fields.map((f) => ({ name: pgIdent(f.name), field: f, type: pgTypeOf(f), notNull: !f.nullable || pk.includes(pgIdent(f.name)) })),
    pk,
    unique: schema.fields.filter((f) => isUnique(f)).map((f) => pgIdent(f.name)),
  };
}

export interface TablePlan {
  table: string;
  ddl: string[];
  /** changes `safe` refuses */
  unsafe: string[];
  exists: boolean;
}

const qualified = (schema: string, t: string) => `${quoteIdent(schema)}.${quoteIdent(t)}`;

function indexDdl(schema: string, w: WantedTable): string[] {
  const names = w.columns.map((c) => c.name);
  if (w.pk.length === 0 || !names.includes(CQ_SOURCE_NAME) || !names.includes(CQ_SYNC_TIME)) return [];
  return [
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(pgIdent(`${w.name}_cqpi`))} ON ${qualified(schema, w.name)} (${quoteIdent(CQ_SOURCE_NAME)}, ` +
      `${quoteIdent(CQ_SYNC_TIME)})`,
  ];
}

export function createDdl(schema: string, w: WantedTable): string[] {
  const cols = w.columns.map(
    (c) =>
      `${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}${
        w.unique.includes(c.name) && !(w.pk.length === 1 && w.pk[0] === c.name) ? ' ' + 'UNIQUE' : ''
      }`,
  );
  if (w.pk.length) cols.push(`PRIMARY KEY (${w.pk.map(quoteIdent).join(', ')})`);
  return [`CREATE TABLE IF NOT EXISTS ${qualified(schema, w.name)} (${cols.join(', ')})`, ...indexDdl(schema, w)];
}

export function planTable(schema: string, w: WantedTable, e: ExistingTable | undefined): TablePlan {
  if (!e) return { table: w.name, ddl: createDdl(schema, w), unsafe: [], exists: false };
  const q = qualified(schema, w.name);
  const ddl: string[] = [];
  const unsafe: string[] = [];
  const samePk = w.pk.length === e.pk.length && w.pk.every((k) => e.pk.includes(k));
  const moveToCqId = !samePk && w.pk.length === 1 && w.pk[0] === '_cq_id' && e.columns.has('_cq_id') && !e.pk.includes('_cq_id');
  if (!samePk && !moveToCqId) unsafe.push(`primary key changes from (${e.pk.join(', ') || 'none'}) to (${w.pk.join(', ') || 'none'})`);
  for (const c of w.columns) {
    const ex = e.columns.get(c.name);
    if (!ex) {
      if (c.notNull) unsafe.push(`adds ${w.pk.includes(c.name) ? 'primary key' : 'NOT NULL'} column "${c.name}" (${typeName(c.field)})`);
      else ddl.push(`ALTER TABLE ${q} ADD COLUMN ${quoteIdent(c.name)} ${c.type}`);
      continue;
    }
    if (!takes(ex.type, c.field)) {
      if (canWiden(ex.type, c.type)) ddl.push(`ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(c.name)} TYPE ${c.type}`);
      else unsafe.push(`column "${c.name}" changes type from ${ex.type} to ${c.type} (${typeName(c.field)})`);
    }
    if (!ex.notNull && c.notNull) unsafe.push(`column "${c.name}" becomes NOT NULL`);
    if (ex.notNull && !c.notNull && !(moveToCqId ? false : e.pk.includes(c.name) && !samePk)) {
      ddl.push(`ALTER TABLE ${q} ALTER COLUMN ${quoteIdent(c.name)} DROP NOT NULL`);
    }
  }
  for (const ex of e.columns.values()) {
    if (w.columns.some((c) => c.name === ex.name)) continue;
    if (ex.notNull) unsafe.push(`removes ${e.pk.includes(ex.name) ? 'primary key' : 'NOT NULL'} column "${ex.name}"`);
  }
  for (const [col, con] of e.uniques) {
    if (!w.unique.includes(col) && w.columns.some((c) => c.name === col)) ddl.push(`ALTER TABLE ${q} DROP CONSTRAINT ${quoteIdent(con)}`);
  }
  if (moveToCqId) {
    // the new key first, so NOT NULL can then come off the old key's columns; the key keeps its
    // constraint name (CloudQuery's `<table>_cqpk` stays `<table>_cqpk`)
    const con = quoteIdent(e.pkConstraint!);
    ddl.unshift(`ALTER TABLE ${q} DROP CONSTRAINT ${con}`, `ALTER TABLE ${q} ADD CONSTRAINT ${con} PRIMARY KEY (${quoteIdent('_cq_id')})`);
  }
  const idx = indexDdl(schema, w);
  if (idx.length && !e.indexes.has(pgIdent(`${w.name}_cqpi`))) ddl.push(...idx);
  return { table: w.name, ddl, unsafe, exists: true };
}

/** a stable 64-bit key for pg_advisory_xact_lock, per schema */
export function lockKey(schema: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(`cq-pipe:migrate:${schema}`)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return BigInt.asIntN(64, h).toString();
}

export interface MigrateResult {
  ddl: string[];
}

/**
 * Plan (and unless `plan`, apply) the migrations of `tables`, in one transaction under the
 * schema's advisory lock. Throws SchemaIncompatibleError listing every unsafe change in `safe`.
 */
export async function migrate(
  client: pg.ClientBase,
  schema: string,
  tables: A.Schema[],
  mode: MigrateMode,
  plan: boolean,
  connector: string,
): Promise<MigrateResult> {
  const wanted = tables.map(wantedTable).filter((w) => w.columns.length > 0);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(schema)]);
    const existing = await readTables(
      client,
      schema,
      wanted.map((w) => w.name),
    );
    const plans = wanted.map((w) => planTable(schema, w, existing.get(w.name)));
    const unsafe = plans.filter((p) => p.unsafe.length > 0);
    if (unsafe.length && mode === 'safe') {
      const list = unsafe.map((p) => `  ${p.table}: ${p.unsafe.join('; ')}`).join('\n');
      throw new SchemaIncompatibleError(
        `${unsafe.length} table(s) need changes that migrate_mode: safe does not make:\n${list}`,
        { connector, table: unsafe[0]!.table, phase: 'migrate' },
        'nothing was written; change the source back, migrate these tables by hand, or set migrate_mode: forced (drops and recreates them)',
      );
    }
    const ddl: string[] = [];
    if (schema !== 'public') ddl.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    for (const p of plans) {
      if (p.unsafe.length) {
        const views = await dependentViews(client, schema, p.table);
        if (views.length) {
          throw new SchemaIncompatibleError(
            `table ${p.table} must be dropped and recreated (${p.unsafe.join('; ')}), but these views depend on it: ${views.join(', ')}`,
            { connector, table: p.table, phase: 'migrate' },
            'drop the views, run the sync, and recreate them; cq-pipe never drops views (no CASCADE)',
          );
        }
        ddl.push(`DROP TABLE ${qualified(schema, p.table)}`, ...createDdl(schema, wanted.find((w) => w.name === p.table)!));
      } else {
        ddl.push(...p.ddl);
      }
    }
    if (!plan) for (const s of ddl) await client.query(s);
    await client.query(plan ? 'ROLLBACK' : 'COMMIT');
    return { ddl };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
