/**
 * Migrations (docs/postgresql.md, "Migrations"): compare each table's Arrow schema with the catalog and
 * plan DDL. Safe changes (create, add nullable column, lossless widening, dropping NOT NULL,
 * dropping a unique constraint, moving the key to _cq_id) run in place; anything else is listed,
 * for every table at once, and fails `safe` before any data is written; `forced` drops and
 * recreates those tables unless views depend on them. All of it runs in one transaction under an
 * advisory lock, so parallel shards cannot race; each table's DDL runs under a savepoint, so a
 * table Postgres refuses (names that collide once cut to 63 bytes, too many columns, a table owned
 * by another role) fails alone and the others are migrated.
 */
import type * as A from 'apache-arrow';
import type pg from 'pg';
import { DestinationWriteError, SchemaIncompatibleError, tableFailure, type CqPipeError } from '../../lib/errors.js';
import { isUnique, primaryKeys, tableName, CQ_SOURCE_NAME, CQ_SYNC_TIME } from '../../lib/schema.js';
import { typeName } from '../../lib/types.js';
import type { MigrateMode } from '../../lib/messages.js';
import { dependentViews, pgIdent, quoteIdent, readTables, type ExistingTable } from './catalog.js';
import { identifierCollisions, legacyIndexName, performanceIndexName } from './identifiers.js';
import { describeCause } from './load-errors.js';
import { canWiden, pgTypeOf, takes } from './types.js';

export interface WantedColumn {
  name: string;
  field: A.Field;
  type: string;
  notNull: boolean;
}

export interface WantedTable {
  /** the table's name in the sync */
  cqName: string;
  name: string;
  columns: WantedColumn[];
  pk: string[];
  unique: string[];
}

export function wantedTable(schema: A.Schema): WantedTable {
  const pk = primaryKeys(schema).map(pgIdent);
  return {
    cqName: tableName(schema),
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

/** CloudQuery's delete-stale index, for tables with a primary key (none when appending) */
function indexDdl(schema: string, w: WantedTable, indexes: boolean): string[] {
  const names = w.columns.map((c) => c.name);
  if (!indexes || w.pk.length === 0 || !names.includes(CQ_SOURCE_NAME) || !names.includes(CQ_SYNC_TIME)) return [];
  return [
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(performanceIndexName(w.cqName))} ON ${qualified(schema, w.name)} (${quoteIdent(CQ_SOURCE_NAME)}, ` +
      `${quoteIdent(CQ_SYNC_TIME)})`,
  ];
}

export function createDdl(schema: string, w: WantedTable, indexes = true): string[] {
  const cols = w.columns.map(
    (c) =>
      `${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}${
        w.unique.includes(c.name) && !(w.pk.length === 1 && w.pk[0] === c.name) ? ' ' + 'UNIQUE' : ''
      }`,
  );
  if (w.pk.length) cols.push(`PRIMARY KEY (${w.pk.map(quoteIdent).join(', ')})`);
  return [`CREATE TABLE IF NOT EXISTS ${qualified(schema, w.name)} (${cols.join(', ')})`, ...indexDdl(schema, w, indexes)];
}

export function planTable(schema: string, w: WantedTable, e: ExistingTable | undefined, indexes = true): TablePlan {
  if (!e) return { table: w.name, ddl: createDdl(schema, w, indexes), unsafe: [], exists: false };
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
  const idx = indexDdl(schema, w, indexes);
  if (idx.length && !e.indexes.has(performanceIndexName(w.cqName)) && !e.indexes.has(legacyIndexName(w.cqName))) ddl.push(...idx);
  return { table: w.name, ddl, unsafe, exists: true };
}

/** a stable 64-bit key for pg_advisory_xact_lock, per schema */
export function lockKey(schema: string): string {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(`cq-pipe:migrate:${schema}`)) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return BigInt.asIntN(64, h).toString();
}

export interface MigrateOptions {
  schema: string;
  mode: MigrateMode;
  /** only plan: run no DDL */
  plan: boolean;
  /** the destination's name, for errors */
  connector: string;
  /** create CloudQuery's delete-stale index (`create_performance_indexes`, default on) */
  indexes: boolean;
}

export interface MigrateResult {
  ddl: string[];
  /** tables that could not be migrated, each a table-scoped error naming it; the others were */
  failed: CqPipeError[];
}

/** errors of one table's DDL, as opposed to the server's or the session's (read-only, timeout, lost connection) */
function isTableDdlError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return typeof code === 'string' && /^(42|54|22|23|2B|0A)/.test(code);
}

/** tables and columns whose names collide once cut to 63 bytes: each such table fails, naming the names */
function collisionFailures(wanted: WantedTable[], connector: string): Map<string, CqPipeError> {
  const out = new Map<string, CqPipeError>();
  const hint = 'Postgres cuts names to 63 bytes: rename one of them (e.g. a basic transformer rename_table / rename_column)';
  for (const [cq, names] of identifierCollisions(wanted.map((w) => w.cqName))) {
    const others = names.filter((n) => n !== cq);
    const msg = `table ${cq} and table ${others.join(', table ')} would both be Postgres table "${pgIdent(cq)}" (names are cut to 63 bytes)`;
    out.set(cq, tableFailure(new SchemaIncompatibleError(msg, { connector, table: cq, phase: 'migrate' }, hint)));
  }
  for (const w of wanted) {
    if (out.has(w.cqName)) continue;
    const cols = identifierCollisions(w.columns.map((c) => c.field.name));
    const first = cols.values().next().value;
    if (!first) continue;
    const both = first.map((c) => `"${c}"`).join(' and ');
    const msg = `table ${w.cqName}: columns ${both} would both be Postgres column "${pgIdent(first[0]!)}" (names are cut to 63 bytes)`;
    out.set(w.cqName, tableFailure(new SchemaIncompatibleError(msg, { connector, table: w.cqName, column: first[0], phase: 'migrate' }, hint)));
  }
  return out;
}

/**
 * Plan (and unless `plan`, apply) the migrations of `tables`, in one transaction under the
 * schema's advisory lock. Throws SchemaIncompatibleError listing every unsafe change in `safe`;
 * a table whose names collide or whose DDL Postgres refuses is returned in `failed`.
 */
export async function migrate(client: pg.ClientBase, tables: A.Schema[], o: MigrateOptions): Promise<MigrateResult> {
  const { schema, connector } = o;
  const all = tables.map(wantedTable).filter((w) => w.columns.length > 0);
  const failures = collisionFailures(all, connector);
  const wanted = all.filter((w) => !failures.has(w.cqName));
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(schema)]);
    const existing = await readTables(
      client,
      schema,
      wanted.map((w) => w.name),
    );
    const plans = wanted.map((w) => ({ w, p: planTable(schema, w, existing.get(w.name), o.indexes) }));
    const unsafe = plans.filter(({ p }) => p.unsafe.length > 0);
    if (unsafe.length && o.mode === 'safe') {
      const list = unsafe.map(({ p }) => `  ${p.table}: ${p.unsafe.join('; ')}`).join('\n');
      throw new SchemaIncompatibleError(
        `${unsafe.length} table(s) need changes that migrate_mode: safe does not make:\n${list}`,
        { connector, table: unsafe[0]!.w.cqName, phase: 'migrate' },
        'nothing was written; change the source back, migrate these tables by hand, or set migrate_mode: forced (drops and recreates them)',
      );
    }
    const ddl: string[] = [];
    // CREATE SCHEMA needs CREATE on the database even when the schema exists: only when it is missing
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (found.rowCount === 0 && wanted.length > 0) ddl.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    if (!o.plan) await runAll(client, ddl, connector);
    for (const { w, p } of plans) {
      let stmts = p.ddl;
      if (p.unsafe.length) {
        const views = await dependentViews(client, schema, p.table);
        if (views.length) {
          throw new SchemaIncompatibleError(
            `table ${w.cqName} must be dropped and recreated (${p.unsafe.join('; ')}), but these views depend on it: ${views.join(', ')}`,
            { connector, table: w.cqName, phase: 'migrate' },
            'drop the views, run the sync, and recreate them; cq-pipe never drops views (no CASCADE)',
          );
        }
        stmts = [`DROP TABLE ${qualified(schema, p.table)}`, ...createDdl(schema, w, o.indexes)];
      }
      if (!stmts.length) continue;
      if (o.plan) {
        ddl.push(...stmts);
        continue;
      }
      const failed = await runTable(client, w.cqName, stmts, connector);
      if (failed) failures.set(w.cqName, failed);
      else ddl.push(...stmts);
    }
    await client.query(o.plan ? 'ROLLBACK' : 'COMMIT');
    return { ddl, failed: [...failures.values()] };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function runAll(client: pg.ClientBase, stmts: string[], connector: string): Promise<void> {
  for (const s of stmts) {
    try {
      await client.query(s);
    } catch (err) {
      throw new DestinationWriteError(`migration failed: ${describeCause(err)} (${s})`, { connector, phase: 'migrate' }, err);
    }
  }
}

/**
 * One table's DDL under a savepoint: what Postgres refuses for this table (class 42, 54, …) is
 * rolled back to the savepoint and returned as that table's failure; anything else (a read-only
 * database, a statement timeout, a lost connection) is thrown, naming the table.
 */
async function runTable(client: pg.ClientBase, table: string, stmts: string[], connector: string): Promise<CqPipeError | undefined> {
  await client.query('SAVEPOINT cq_pipe_migrate');
  for (const s of stmts) {
    try {
      await client.query(s);
    } catch (err) {
      await client.query('ROLLBACK TO SAVEPOINT cq_pipe_migrate');
      const context = { connector, table, phase: 'migrate' };
      const message = `migration of table ${table} failed: ${describeCause(err)}`;
      if (!isTableDdlError(err)) throw new DestinationWriteError(message, context, err);
      const code = (err as { code?: string }).code ?? '';
      const e = code.startsWith('54') || code === '42701' ? new SchemaIncompatibleError(message, context) : new DestinationWriteError(message, context, err);
      return tableFailure(e);
    }
  }
  await client.query('RELEASE SAVEPOINT cq_pipe_migrate');
  return undefined;
}
