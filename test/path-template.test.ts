import t from 'tap';
import { parsePathTemplate, pathSegment, PATH_PLACEHOLDERS } from '../lib/path-template.js';
import { ConfigError } from '../lib/errors.js';
import { exitCodeOf } from '../bin/exit-codes.js';

const values = {
  table: 'items',
  uuid: '0f8fad5b-d9cb-469f-a165-70867728950e',
  format: 'parquet',
  time: new Date(Date.UTC(2024, 2, 5, 7, 9, 30)),
  syncId: 'run-42',
};

t.test('renders every placeholder, date parts in UTC and zero-padded', async (t) => {
  const tpl = parsePathTemplate('out/{{TABLE}}/{{YEAR}}/{{MONTH}}/{{DAY}}/{{HOUR}}{{MINUTE}}/{{SYNC_ID}}-{{UUID}}.{{FORMAT}}');
  t.equal(tpl.render(values), 'out/items/2024/03/05/0709/run-42-0f8fad5b-d9cb-469f-a165-70867728950e.parquet');
  t.same([...tpl.placeholders].sort(), [...PATH_PLACEHOLDERS].sort());
  t.equal(PATH_PLACEHOLDERS.length, 9);
});

t.test('literal text and repeated placeholders are kept', async (t) => {
  const tpl = parsePathTemplate('./cq/{{TABLE}}/{{TABLE}}_{{UUID}}.{{FORMAT}}');
  t.equal(tpl.render({ ...values, format: 'ndjson.gz' }), './cq/items/items_0f8fad5b-d9cb-469f-a165-70867728950e.ndjson.gz');
  t.equal(parsePathTemplate('a/{{ UUID }}.x').render(values), 'a/0f8fad5b-d9cb-469f-a165-70867728950e.x', 'spaces inside braces are allowed');
});

t.test('table names become one path segment', async (t) => {
  t.equal(pathSegment('public/orders'), 'public_orders');
  t.equal(pathSegment('a\\b'), 'a_b');
  t.equal(pathSegment('..'), '__');
  t.equal(pathSegment('schema.table'), 'schema.table');
  t.equal(parsePathTemplate('{{TABLE}}/{{UUID}}').render({ ...values, table: 'x/y' }), 'x_y/0f8fad5b-d9cb-469f-a165-70867728950e');
});

t.test('unknown placeholder is a config error naming it, with a suggestion', async (t) => {
  const err = t.throws(() => parsePathTemplate('out/{{TABEL}}/{{UUID}}.{{FORMAT}}', { context: { connector: 'files' } })) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.code, 'CQ_ERR_CONFIG_INVALID');
  t.equal(exitCodeOf(err), 2);
  t.match(err.message, /\{\{TABEL\}\}/);
  t.match(err.hint, /did you mean \{\{TABLE\}\}/);
  t.equal(err.context.keyPath, 'spec.path');
  t.equal(err.context.connector, 'files');

  const lower = t.throws(() => parsePathTemplate('{{table}}/{{UUID}}')) as ConfigError;
  t.match(lower.hint, /did you mean \{\{TABLE\}\}/, 'lower case suggests the upper-case name');
  const far = t.throws(() => parsePathTemplate('{{SOMETHING_ELSE}}/{{UUID}}')) as ConfigError;
  t.notMatch(far.hint, /did you mean/, 'no suggestion when nothing is close');
  t.match(far.hint, /\{\{SYNC_ID\}\}/, 'lists the placeholders');
});

t.test('a rotating template needs {{UUID}}', async (t) => {
  const err = t.throws(() => parsePathTemplate('out/{{TABLE}}.{{FORMAT}}', { requireUuid: true })) as ConfigError;
  t.equal(err.code, 'CQ_ERR_CONFIG_INVALID');
  t.match(err.message, /no \{\{UUID\}\}/);
  t.match(err.hint, /no_rotate: true/);
  t.doesNotThrow(() => parsePathTemplate('out/{{TABLE}}.{{FORMAT}}', { requireUuid: false }));
});

t.test('empty, directory-like and unbalanced templates are rejected', async (t) => {
  t.equal((t.throws(() => parsePathTemplate('')) as ConfigError).code, 'CQ_ERR_CONFIG_INVALID');
  t.match((t.throws(() => parsePathTemplate('out/{{TABLE}}/')) as ConfigError).message, /directory/);
  t.match((t.throws(() => parsePathTemplate('out/{{TABLE}/{{UUID}}')) as ConfigError).message, /unbalanced/);
});
