/**
 * Source table selection (docs/config.md): `tables` and `skip_tables` are globs over table names;
 * a pattern that matches no table is an error naming the pattern and the tables that exist.
 */
import picomatch from 'picomatch';
import { closest } from 'fastest-levenshtein';
import type * as A from 'apache-arrow';
import { tableName } from './schema.js';
import { TablePatternError } from './errors.js';

/** schema metadata a source may set with the table's own name (e.g. `public.orders`), also matched by globs */
export const MD_SOURCE_TABLE = 'cq-pipe:source_table';

function namesOf(s: A.Schema): string[] {
  const alias = s.metadata.get(MD_SOURCE_TABLE);
  return alias ? [tableName(s), alias] : [tableName(s)];
}

export function selectTables(all: A.Schema[], include: readonly string[], skip: readonly string[], source: string): A.Schema[] {
  const names = all.map(tableName);
  const allNames = all.flatMap(namesOf);
  const check = (patterns: readonly string[], key: string) => {
    for (const p of patterns) {
      const m = picomatch(p);
      if (!allNames.some((n) => m(n))) {
        const near = names.length ? closest(p, names) : undefined;
        throw new TablePatternError(
          `${key} pattern "${p}" of source ${source} matches no table`,
          { connector: source, keyPath: `spec.${key}` },
          names.length
            ? `tables are: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}${near ? ` — did you mean "${near}"?` : ''}`
            : 'the source has no tables',
        );
      }
    }
  };
  check(include, 'tables');
  check(skip, 'skip_tables');
  const inc = include.map((p) => picomatch(p));
  const exc = skip.map((p) => picomatch(p));
  return all.filter((s) => {
    const ns = namesOf(s);
    return inc.some((m) => ns.some((n) => m(n))) && !exc.some((m) => ns.some((n) => m(n)));
  });
}
