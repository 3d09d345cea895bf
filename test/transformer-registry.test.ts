/**
 * The transformer registry (docs/transformers.md): built-ins are imported on first use, names in
 * CloudQuery's spelling, module paths get the module descriptor, unknown paths are config errors
 * with a did-you-mean; the `basic` dispatch table has an entry for every kind.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, type CqPipeError } from '../lib/errors.js';
import { composeStages as libCompose } from '../lib/transformer.js';
import { silentLogger } from '../lib/logger.js';
import { BUILTIN_TRANSFORMERS, TRANSFORMERS, composeStages, openTransformer, resolveTransformer, validateTransformer } from '../transforms/index.js';
import { BASIC_KINDS, type Transformation } from '../transforms/basic/transformation.js';
import { KINDS } from '../transforms/basic/kinds.js';
import { basicSpecSchema, parseBasicSpec } from '../transforms/basic/spec.js';
import { jsonflattenerSpecSchema, parseJsonFlattenerSpec } from '../transforms/jsonflattener.js';
import { ROOT, tmpDir } from './helpers/index.js';
import { exitCodeOf } from '../bin/exit-codes.js';

const DIST = path.join(ROOT, 'dist');

/** The dist/transforms modules a fresh node process loads running `code` (an ESM snippet). */
async function modulesLoadedBy(t: Test, code: string): Promise<string[]> {
  const dir = await tmpDir(t, 'cq-pipe-registry-');
  const hooks = path.join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    `export async function load(url, context, next) {
  if (url.startsWith('file:')) process.stderr.write('LOADED ' + url + '\\n');
  return next(url, context);
}\n`,
  );
  const register = path.join(dir, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, '--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(status, 0, err);
  const prefix = pathToFileURL(path.join(DIST, 'transforms')).href + '/';
  return err
    .split('\n')
    .filter((l) => l.startsWith(`LOADED ${prefix}`))
    .map((l) => l.slice(`LOADED ${prefix}`.length));
}

t.test('importing transforms/index.js loads no built-in; resolving one loads only that one', async (t) => {
  const index = JSON.stringify(pathToFileURL(path.join(DIST, 'transforms/index.js')).href);
  const bare = await modulesLoadedBy(t, `await import(${index});`);
  t.ok(bare.includes('index.js'), 'the registry itself was loaded (the hook sees transforms/)');
  t.same(
    bare.filter((m) => m.startsWith('basic/') || m === 'jsonflattener.js'),
    [],
    'neither basic nor jsonflattener',
  );

  const basic = await modulesLoadedBy(t, `const m = await import(${index}); await m.resolveTransformer('basic', '.');`);
  t.ok(basic.includes('basic/index.js') && basic.includes('basic/plan.js'));
  t.notOk(basic.includes('jsonflattener.js'), 'jsonflattener stays unloaded');

  const flat = await modulesLoadedBy(t, `const m = await import(${index}); await m.resolveTransformer('jsonflattener', '.');`);
  t.ok(flat.includes('jsonflattener.js'));
  t.notOk(flat.includes('basic/index.js') || flat.includes('basic/plan.js'), 'the basic descriptor and its plans stay unloaded');
});

t.test('built-in names, CloudQuery spellings and the descriptors', async (t) => {
  t.same(BUILTIN_TRANSFORMERS, ['basic', 'jsonflattener', 'test']);
  t.same(TRANSFORMERS, { basic: true, jsonflattener: true, test: true });
  const basic = await resolveTransformer('basic', ROOT);
  t.equal(basic.kind, 'transformer');
  t.equal(basic.name, 'basic');
  t.equal(basic.configSchema, basicSpecSchema);
  t.equal(await resolveTransformer('cloudquery/basic', ROOT), basic, 'cloudquery/basic is the same descriptor');
  const flat = await resolveTransformer('cloudquery/jsonflattener', ROOT);
  t.equal(flat.name, 'jsonflattener');
  t.equal(flat.configSchema, jsonflattenerSpecSchema);
  t.equal(await resolveTransformer('jsonflattener', ROOT), flat);
  t.equal(composeStages, libCompose, "composeStages is the contract's");

  // validate gives the same problems as the spec parsers (so config errors read as before)
  const bad = {
    transformations: [
      { kind: 'remove_column', columns: ['a'] },
      { kind: 'rename_column', name: 'a', value: 'b', new_name: 'c' },
    ],
  };
  t.same(await basic.validate!(bad), parseBasicSpec(bad).problems);
  t.ok(parseBasicSpec(bad).problems.length > 0);
  const semantic = { transformations: [{ kind: 'rename_column', name: 'a', value: 'b', new_name: 'c' }] };
  t.same(await basic.validate!(semantic), [
    { keyPath: ['spec', 'transformations', 0, 'new_name'], message: '"value" and "new_name" disagree; give the new name once' },
  ]);
  const badFlat = { type_schemas: { doc: { a: 'int65' } } };
  t.same(await flat.validate!(badFlat), parseJsonFlattenerSpec(badFlat).problems);
  t.equal((await flat.validate!(badFlat))[0]!.message, 'unknown type "int65"');
  t.same(await flat.validate!({}), []);
});

t.test('create on a spec validate rejects: a ConfigError naming the transformer and its document', async (t) => {
  const basic = await resolveTransformer('basic', ROOT);
  const ctx = { name: 'redact', destination: 'd', logger: silentLogger, origin: { file: 'sync.yml', document: 4, baseDir: ROOT } };
  const err = await Promise.resolve()
    .then(() => basic.create({ transformations: [{ kind: 'remove_columns', columns: ['a'], extra: 1 }] }, ctx))
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.ok(err instanceof ConfigError);
  const e = err as ConfigError;
  t.equal(e.message, 'transformer redact: spec.transformations[0].extra: unknown key "extra"');
  t.same(e.context, { file: 'sync.yml', document: 4, keyPath: 'spec.transformations[0].extra' });
  t.match(e.hint, /allowed keys here: kind, tables, columns/);
});

t.test('module paths get the module descriptor: validate loads it, create wraps it', async (t) => {
  const dir = await tmpDir(t, 'cq-pipe-registry-');
  await writeFile(path.join(dir, 'tag.mjs'), 'export default async function* (messages, ctx) { for await (const m of messages) yield m; }\n');
  await writeFile(path.join(dir, 'nofn.mjs'), 'export const x = 1;\n');
  const def = await resolveTransformer('./tag.mjs', dir);
  t.equal(def.kind, 'transformer');
  t.equal(def.name, './tag.mjs');
  t.same(await def.validate!({}), []);
  const nofn = await resolveTransformer('./nofn.mjs', dir);
  const problems = await nofn.validate!({});
  t.same(
    problems.map((p) => p.keyPath),
    [['path']],
  );
  t.match(problems[0]!.message, /exports no transform function/);
  const missing = await (await resolveTransformer('./missing.mjs', dir)).validate!({});
  t.match(missing[0]!.message, /cannot load transformer module "\.\/missing\.mjs"/);
  t.match(missing[0]!.hint, new RegExp(`resolve against the config file's directory \\(${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));

  const tag = { name: 'tag', path: './tag.mjs', spec: {}, origin: { file: path.join(dir, 'sync.yml'), document: 2, baseDir: dir } };
  const stage = await openTransformer(tag, { destination: 'd' });
  const out = [];
  for await (const m of stage(
    (async function* () {
      yield { kind: 'sync-end' as const };
    })(),
  ))
    out.push(m);
  t.same(out, [{ kind: 'sync-end' }]);

  // a module that does not load at open: the loader's error, pointing at the document's path key
  const gone = { name: 'gone', path: './gone.mjs', spec: {}, origin: { file: 'sync.yml', document: 5, baseDir: dir } };
  const err = await openTransformer(gone, { destination: 'd' }).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.ok(err instanceof ConfigError);
  t.match(err!.message, /^cannot load transformer module "\.\/gone\.mjs"/);
  t.same(err!.context, { file: 'sync.yml', document: 5, keyPath: 'spec.path', connector: 'transformer gone' });
});

t.test('an unknown path is a ConfigError (CQ_ERR_CONFIG_INVALID) with a did-you-mean', async (t) => {
  for (const [p, message] of [
    ['basik', 'unknown transformer "basik" (did you mean "basic"?)'],
    ['cloudquery/jsonflatener', 'unknown transformer "cloudquery/jsonflatener"'],
    ['jsonflatener', 'unknown transformer "jsonflatener" (did you mean "jsonflattener"?)'],
    ['constructor', 'unknown transformer "constructor"'],
  ] as const) {
    const err = await resolveTransformer(p, ROOT).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof ConfigError, p);
    const e = err as CqPipeError;
    t.equal(e.code, 'CQ_ERR_CONFIG_INVALID');
    t.equal(exitCodeOf(e), 2);
    t.equal(e.message, message);
    t.equal(e.hint, 'built-in transformers: basic, jsonflattener, test; or a module path such as ./my-transform.js');
  }
  t.same(await validateTransformer({ path: 'basik', baseDir: ROOT }), [
    {
      keyPath: ['path'],
      message: 'unknown transformer "basik" (did you mean "basic"?)',
      hint: 'built-in transformers: basic, jsonflattener, test; or a module path such as ./my-transform.js',
    },
  ]);
  const open = await openTransformer(
    { name: 'x', path: 'basik', spec: {}, origin: { file: 'sync.yml', document: 2, baseDir: ROOT } },
    { destination: 'd' },
  ).then(
    () => undefined,
    (e: unknown) => e as ConfigError,
  );
  t.equal(open!.message, 'transformer x: path: unknown transformer "basik" (did you mean "basic"?)');
  t.same(open!.context, { file: 'sync.yml', document: 2, keyPath: 'path' });
});

t.test('basic: the dispatch table has one entry per kind, and the schema one branch per kind', async (t) => {
  t.same(Object.keys(KINDS).sort(), [...BASIC_KINDS].sort());
  for (const k of BASIC_KINDS) {
    const op = KINDS[k];
    t.type(op.compile, 'function', `${k} compiles`);
    t.ok(Array.isArray(op.keys.required) && typeof op.keys.properties === 'object', `${k} owns its schema part`);
  }
  const rename: Transformation = { kind: 'change_table_names', tables: ['*'], new_table_name_template: 'cq_{{.OldName}}' };
  t.equal(KINDS.change_table_names.renameTable?.(rename, 'items'), 'cq_items');
  t.same(
    BASIC_KINDS.filter((k) => KINDS[k].renameTable),
    ['change_table_names'],
    'only change_table_names renames tables',
  );
  const branches = basicSpecSchema.properties.transformations.items.allOf;
  t.same(
    branches.map((b) => b.if.properties.kind.const),
    [...BASIC_KINDS],
  );
  t.same(
    branches.map((b) => b.then.required),
    BASIC_KINDS.map((k) => KINDS[k].keys.required),
  );
});
