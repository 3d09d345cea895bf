/**
 * Postgres identifier rules the destination has to live with (docs/postgresql.md, "Long names"):
 * names are cut to 63 bytes, so two tables (or two columns of one table) whose names share their
 * first 63 bytes would become one — found here before any DDL runs — and the name CloudQuery gives
 * the delete-stale index (`<table>_cqpi`, hashed when the table's name is long).
 */
import { createHash } from 'node:crypto';
import { pgIdent } from './catalog.js';

/** names that become the same Postgres identifier: each name → every name of its group (itself included), groups of two or more only */
export function identifierCollisions(names: readonly string[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const n of new Set(names)) {
    const id = pgIdent(n);
    const g = groups.get(id);
    if (g) g.push(n);
    else groups.set(id, [n]);
  }
  const out = new Map<string, string[]>();
  for (const g of groups.values()) if (g.length > 1) for (const n of g) out.set(n, g);
  return out;
}

/**
 * The delete-stale index CloudQuery's destination creates with `create_performance_indexes`
 * (`client/migrate.go` `createPerformanceIndexes`): `<table>_cqpi`, or, for a name over 58 bytes,
 * the first 32 hex digits of the SHA-256 of its first 63 bytes, then `_cqpi`.
 */
export function performanceIndexName(table: string): string {
  const b = Buffer.from(table, 'utf8');
  if (b.length <= 58) return `${table}_cqpi`;
  return `${createHash('sha256').update(b.subarray(0, 63)).digest('hex').slice(0, 32)}_cqpi`;
}

/** the index name cq-pipe used before it named the index as CloudQuery does (the same for names up to 58 bytes) */
export function legacyIndexName(table: string): string {
  return pgIdent(`${pgIdent(table)}_cqpi`);
}
