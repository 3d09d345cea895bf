/**
 * CloudQuery's `tables` documentation output (`--output-dir`, `--format json|markdown`): per source,
 * `<dir>/<source>/__tables.json`, or `README.md` plus one `<table>.md` per table, in the layout and
 * wording of CloudQuery's CLI (cloudquery/cloudquery cli/internal/docs/{json,markdown}.go and
 * templates/). Relations are nested under their parent (`cq:table_depends_on`); types are written
 * as arrow-go names them (its DataType.String()), e.g. `timestamp[us, tz=UTC]`, `list<item: int64, nullable>`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import { MD_INCREMENTAL, MD_TABLE_DESCRIPTION, isIncrementalTable, isPrimaryKey, tableName } from '../../lib/schema.js';
import { extensionOf } from '../../lib/types.js';

const MD_DEPENDS_ON = 'cq:table_depends_on';
const MD_TITLE = 'cq:table_title';
const MD_PAID = 'cq:table_paid';
const MD_PK_COMPONENT = 'cq:extension:primary_key_component';

export interface DocTable {
  schema: A.Schema;
  name: string;
  parent?: DocTable;
  relations: DocTable[];
}

const UNITS = ['s', 'ms', 'us', 'ns'];

/** An Arrow type as arrow-go's DataType.String() writes it (CloudQuery's docs show these). */
export function arrowGoTypeName(f: A.Field): string {
  return extensionOf(f) ?? goType(f.type);
}

function goType(t: A.DataType): string {
  switch (t.typeId) {
    case A.Type.Null:
      return 'null';
    case A.Type.Bool:
      return 'bool';
    case A.Type.Int: {
      const i = t as A.Int;
      return `${i.isSigned ? 'int' : 'uint'}${i.bitWidth}`;
    }
    case A.Type.Float: {
      const p = (t as A.Float).precision;
      return p === A.Precision.HALF ? 'float16' : p === A.Precision.SINGLE ? 'float32' : 'float64';
    }
    case A.Type.Utf8:
      return 'utf8';
    case A.Type.LargeUtf8:
      return 'large_utf8';
    case A.Type.Binary:
      return 'binary';
    case A.Type.LargeBinary:
      return 'large_binary';
    case A.Type.FixedSizeBinary:
      return `fixed_size_binary[${(t as A.FixedSizeBinary).byteWidth}]`;
    case A.Type.Date:
      return (t as A.Date_).unit === A.DateUnit.DAY ? 'date32' : 'date64';
    case A.Type.Time: {
      const tt = t as A.Time;
      return `time${tt.bitWidth}[${UNITS[tt.unit]}]`;
    }
    case A.Type.Timestamp: {
      const ts = t as A.Timestamp;
      return `timestamp[${UNITS[ts.unit]}${ts.timezone ? `, tz=${ts.timezone}` : ''}]`;
    }
    case A.Type.Duration:
      return `duration[${UNITS[(t as A.Duration).unit]}]`;
    case A.Type.Interval: {
      const u = (t as A.Interval).unit;
      return u === A.IntervalUnit.YEAR_MONTH ? 'month_interval' : u === A.IntervalUnit.DAY_TIME ? 'day_time_interval' : 'month_day_nano_interval';
    }
    case A.Type.Decimal: {
      const d = t as A.Decimal;
      return `${d.bitWidth === 256 ? 'decimal256' : 'decimal'}(${d.precision}, ${d.scale})`;
    }
    case A.Type.List: {
      const item = (t as A.List).children[0]!;
      return `list<${item.name}: ${arrowGoTypeName(item)}${item.nullable ? ', nullable' : ''}>`;
    }
    case A.Type.FixedSizeList: {
      const fl = t as A.FixedSizeList;
      const item = fl.children[0]!;
      return `fixed_size_list<${item.name}: ${arrowGoTypeName(item)}${item.nullable ? ', nullable' : ''}>[${fl.listSize}]`;
    }
    case A.Type.Struct:
      return `struct<${(t as A.Struct).children.map((c) => `${c.name}: ${arrowGoTypeName(c)}`).join(', ')}>`;
    case A.Type.Map: {
      const entries = (t as A.Map_).children[0]!.type as A.Struct;
      const [key, item] = entries.children as [A.Field, A.Field];
      return `map<${arrowGoTypeName(key)}, ${arrowGoTypeName(item)}${item.nullable ? ', items_nullable' : ''}>`;
    }
    case A.Type.Dictionary: {
      const d = t as A.Dictionary;
      return `dictionary<values=${goType(d.dictionary)}, indices=${goType(d.indices)}, ordered=${d.isOrdered}>`;
    }
    default:
      return String(t).toLowerCase();
  }
}

const byName = (a: DocTable, b: DocTable) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Flat schemas → top-level tables with their relations nested (sorted by name, as CloudQuery lists them). */
export function unflatten(schemas: readonly A.Schema[]): DocTable[] {
  const all = new Map(schemas.map((schema) => [tableName(schema), { schema, name: tableName(schema), relations: [] } as DocTable]));
  const top: DocTable[] = [];
  for (const t of all.values()) {
    const parent = all.get(t.schema.metadata.get(MD_DEPENDS_ON) ?? '');
    if (parent) {
      t.parent = parent;
      parent.relations.push(t);
    } else {
      top.push(t);
    }
  }
  for (const t of all.values()) t.relations.sort(byName);
  return top.sort(byName);
}

const flag = (f: A.Field, key: string) => f.metadata.get(key) === 'true';

interface JsonTable {
  name: string;
  title: string;
  description: string;
  columns: Record<string, string | boolean>[];
  relations: JsonTable[];
  is_paid?: boolean;
  is_incremental?: boolean;
}

function jsonTable(t: DocTable): JsonTable {
  const s = t.schema;
  const hasComponents = s.fields.some((f) => flag(f, MD_PK_COMPONENT));
  const out: JsonTable = {
    name: t.name,
    title: s.metadata.get(MD_TITLE) ?? '',
    description: s.metadata.get(MD_TABLE_DESCRIPTION) ?? '',
    columns: s.fields.map((f) => {
      const c: Record<string, string | boolean> = { name: f.name, type: arrowGoTypeName(f) };
      // CloudQuery shows the key components, not _cq_id, as the key when a table has them
      if ((isPrimaryKey(f) && !(f.name === '_cq_id' && hasComponents)) || flag(f, MD_PK_COMPONENT)) c.is_primary_key = true;
      if (flag(f, MD_INCREMENTAL)) c.is_incremental_key = true;
      if (flag(f, MD_PK_COMPONENT)) c.is_primary_key_component = true;
      return c;
    }),
    relations: t.relations.map(jsonTable),
  };
  if (s.metadata.get(MD_PAID) === 'true') out.is_paid = true;
  if (isIncrementalTable(s)) out.is_incremental = true;
  return out;
}

/** CloudQuery's notice on a paid table (templates/table.md.go.tpl) */
const PREMIUM = [
  'This is a premium table. To sync this table you must be logged in via `cloudquery login`',
  'or you must use a valid API Key which can be generated at `cloud.cloudquery.io`',
].join(' ');

const bold = (names: string[]) => names.map((n) => `**${n}**`).join(', ');

function tableMarkdown(t: DocTable): string {
  const s = t.schema;
  const parts: string[] = [`# Table: ${t.name}`];
  if (s.metadata.get(MD_PAID) === 'true') {
    parts.push(PREMIUM);
  }
  const title = s.metadata.get(MD_TITLE);
  if (title) parts.push(`This table shows data for ${title}.`);
  const description = s.metadata.get(MD_TABLE_DESCRIPTION);
  if (description) parts.push(description);
  const pks = s.fields.filter(isPrimaryKey).map((f) => f.name);
  let keys = pks.length === 1 ? `The primary key for this table is **${pks[0]}**.` : `The composite primary key for this table is (${bold(pks)}).`;
  const components = s.fields.filter((f) => flag(f, MD_PK_COMPONENT)).map((f) => f.name);
  if (components.length === 1) keys += `\nThe following field is used to calculate the value of \`_cq_id\`: **${components[0]}**.`;
  else if (components.length > 1) keys += `\nThe following fields are used to calculate the value of \`_cq_id\`: (${bold(components)}).`;
  if (isIncrementalTable(s)) {
    const ik = s.fields.filter((f) => flag(f, MD_INCREMENTAL)).map((f) => f.name);
    const on = ik.length === 1 ? ` based on the **${ik[0]}** column` : ik.length > 1 ? ` based on the (${bold(ik)}) columns` : '';
    keys += `\nIt supports incremental syncs${on}.`;
  }
  parts.push(keys);
  if (t.parent || t.relations.length) {
    parts.push('## Relations');
    if (t.parent) parts.push(`This table depends on [${t.parent.name}](${t.parent.name}.md).`);
    if (t.relations.length) parts.push([`The following tables depend on ${t.name}:`, ...t.relations.map((r) => `  - [${r.name}](${r.name}.md)`)].join('\n'));
  }
  parts.push('## Columns');
  const rows = s.fields.map(
    (f) => `|${f.name}${isPrimaryKey(f) ? ' (PK)' : ''}${flag(f, MD_INCREMENTAL) ? ' (Incremental Key)' : ''}|\`${arrowGoTypeName(f)}\`|`,
  );
  parts.push(['| Name          | Type          |', '| ------------- | ------------- |', ...rows].join('\n'));
  return parts.join('\n\n');
}

function readmeEntries(t: DocTable, depth: number): string[] {
  const line = `${'  '.repeat(depth)}- [${t.name}](${t.name}.md)${isIncrementalTable(t.schema) ? ' (Incremental)' : ''}`;
  return [line, ...t.relations.flatMap((r) => readmeEntries(r, depth + 1))];
}

function allTables(tables: DocTable[]): DocTable[] {
  return tables.flatMap((t) => [t, ...allTables(t.relations)]);
}

/** Write one source's docs into `dir` (created); returns the files written. */
export async function writeTableDocs(dir: string, pluginName: string, schemas: readonly A.Schema[], format: 'json' | 'markdown'): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const tables = unflatten(schemas);
  if (format === 'json') {
    const file = path.join(dir, '__tables.json');
    await writeFile(file, `${JSON.stringify(tables.map(jsonTable), null, 2)}\n`);
    return [file];
  }
  const files: string[] = [];
  for (const t of allTables(tables)) {
    const file = path.join(dir, `${t.name}.md`);
    await writeFile(file, tableMarkdown(t));
    files.push(file);
  }
  const readme = path.join(dir, 'README.md');
  await writeFile(readme, [`# Source Plugin: ${pluginName}`, '## Tables', tables.flatMap((t) => readmeEntries(t, 0)).join('\n')].join('\n\n'));
  return [readme, ...files];
}
