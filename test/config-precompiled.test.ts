/**
 * Schema validators from the build (lib/config/precompiled.ts, scripts/compile-schemas.ts): the
 * built-in schemas are not compiled at run time (ajv does not even load for a config of built-ins),
 * a missing, stale or foreign module falls back to compiling, and both ways give the same
 * verdicts, errors and defaults on the same specs.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import t from 'tap';
import { loadConfig } from '../index.js';
import { AJV_OPTIONS, PRECOMPILED_DIR, precompiledFile, precompiledValidator, schemaKey, schemaValidator, validatorStats } from '../lib/config/precompiled.js';
import { destinationSchema, sourceSchema } from '../lib/config/schema.js';
import { acceptSpec } from '../connectors/cloudquery-plugin/serve/spec.js';
import { fileDestination } from '../connectors/file/destination.js';
import { testSource } from '../connectors/test-source.js';
import { builtinSchemas } from '../scripts/built-in-schemas.js';
import { cliSync } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';

// the first test runs before anything here loads ajv (the basic and jsonflattener transformers do)
/** ajv's own modules loaded in this process (ajv is CommonJS: its modules are in require's cache) */
const ajvCore = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /[/\\]ajv[/\\]dist[/\\](ajv|core)\.js$/.test(k));

const PLAIN = `kind: source
spec:
  name: t
  path: test
  destinations: [f]
  spec:
    num_rows: 3
---
kind: destination
spec:
  name: f
  path: file
  write_mode: append
  spec:
    path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}"
    format: json
    batch_size: 10
`;

/** a destination module with a schema of its own: only known at run time */
const MODULE_DEST =
  `export default { kind: 'destination', name: 'x', configSchema: { type: 'object', additionalProperties: false, properties: ` +
  `{ level: { type: 'integer', default: 4 } } }, capabilities: { writeModes: ['append'], batch: { rows: 1, bytes: 1, timeoutMs: 1 } }, ` +
  `create() { throw new Error('unused'); } };`;

t.test('a config of built-ins loads with no schema compiled and without ajv; a module connector compiles its own', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'plain.yml'), PLAIN);
  t.same(ajvCore(), [], 'ajv not loaded before');
  const before = { ...validatorStats };
  const c = await loadConfig([path.join(dir, 'plain.yml')], { requireDestinations: true, cwd: dir });
  t.same(c.sources[0]!.tables, ['*'], 'kind defaults applied');
  t.equal(c.sources[0]!.spec.num_tables, 1, "the test source's defaults applied");
  t.equal(c.destinations[0]!.batch?.rows, 10, 'engine key of the destination schema');
  t.equal(validatorStats.compiled - before.compiled, 0, 'nothing compiled');
  t.equal(validatorStats.precompiled - before.precompiled, 5, 'document, source, destination, test source, file destination');
  t.same(ajvCore(), [], 'ajv not loaded after');

  await writeFile(path.join(dir, 'd.mjs'), MODULE_DEST);
  await writeFile(path.join(dir, 'mod.yml'), PLAIN.replace('path: file', 'path: ./d.mjs').replace(/ {4}path: ".*"\n {4}format: json\n/, ''));
  const m = await loadConfig([path.join(dir, 'mod.yml')], { requireDestinations: true, cwd: dir });
  t.same(m.destinations[0]!.spec, { level: 4 }, "the module's default applied");
  t.equal(validatorStats.compiled - before.compiled, 1, "the module's schema compiled at run time");
  t.equal(ajvCore().length, 2, 'ajv loaded for it');
});

t.test("a served plugin's Init spec is checked with the build's validators", async (t) => {
  const before = { ...validatorStats };
  const served = { name: 'file', destination: fileDestination };
  const ok = await acceptSpec(served, { path: '/tmp/x/{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'json', batch_size: 5 });
  t.same(ok.destination?.batch, { rows: 5 }, 'engine keys split off');
  await t.rejects(acceptSpec(served, { path: '/tmp/x/{{TABLE}}/{{UUID}}.{{FORMAT}}', fromat: 'json' }), {
    message: /unknown key "fromat" \(did you mean "format"\?\)/,
  });
  const src = await acceptSpec({ name: 'test', source: testSource }, {});
  t.equal(src.source?.num_rows, 1000, "the test source's default applied");
  t.equal(validatorStats.precompiled - before.precompiled, 2, 'one per descriptor');
  t.equal(validatorStats.compiled - before.compiled, 0, 'nothing compiled');
});

t.test('the CLI loads no ajv module but its small run-time helpers for a config of built-ins', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'plain.yml'), PLAIN);
  await writeFile(path.join(dir, 'mod.yml'), PLAIN.replace('path: file', 'path: ./d.mjs').replace(/ {4}path: ".*"\n {4}format: json\n/, ''));
  await writeFile(path.join(dir, 'd.mjs'), MODULE_DEST);
  const probe = path.join(dir, 'probe.mjs');
  await writeFile(
    probe,
    `import { createRequire } from 'node:module'; import { writeFileSync } from 'node:fs';\n` +
      `process.on('exit', () => writeFileSync(process.env.AJV_PROBE_OUT, JSON.stringify(Object.keys(createRequire(import.meta.url).cache)` +
      `.filter((k) => k.includes('/ajv/')).map((k) => k.slice(k.indexOf('/ajv/') + 5)))));\n`,
  );
  const loaded = async (file: string): Promise<string[]> => {
    const out = path.join(dir, `${file}.json`);
    const r = cliSync(['validate-config', file], { cwd: dir, env: { NODE_OPTIONS: `--import=${pathToFileURL(probe).href}`, AJV_PROBE_OUT: out } });
    t.equal(r.code, 0, `${file}: ${r.stderr}`);
    return JSON.parse(await readFile(out, 'utf8')) as string[];
  };
  const plain = await loaded('plain.yml');
  t.same(
    plain.filter((m) => !m.startsWith('dist/runtime/')),
    [],
    `only ajv's run-time helpers: ${plain.join(', ')}`,
  );
  t.ok((await loaded('mod.yml')).includes('dist/core.js'), 'a module connector loads ajv');
});

t.test('every built-in schema has a module from the build, recording its key', async (t) => {
  const schemas = await builtinSchemas();
  t.ok(schemas.length >= 15, `${schemas.length} built-in schemas`);
  for (const { name, schema } of schemas) {
    const key = schemaKey(schema);
    const text = await readFile(precompiledFile(key), 'utf8').catch(() => '');
    t.ok(text.includes(`module.exports.schemaKey = "${key}"`), `${name}: module ${key}.cjs`);
    t.type(precompiledValidator(schema), 'function', `${name}: loads`);
  }
});

t.test('a missing, stale, foreign or broken module falls back to compiling at run time', async (t) => {
  const dir = await tmpDir(t);
  // missing: no module for the schema in that directory
  t.equal(precompiledValidator(sourceSchema, dir), undefined, 'no module');
  let before = validatorStats.compiled;
  const compiled = schemaValidator(sourceSchema, dir);
  t.equal(validatorStats.compiled - before, 1, 'compiled');
  const built = schemaValidator(sourceSchema);
  t.not(compiled, built, 'not the build one');
  for (const spec of [{ name: 'a', path: 'p' }, { name: '', path: 'p', tables: 'x', bogus: 1 }, {}]) {
    const [a, b] = [structuredClone(spec), structuredClone(spec)];
    t.equal(compiled(a), built(b), `same verdict on ${JSON.stringify(spec)}`);
    t.same(compiled.errors, built.errors, 'same errors');
    t.same(a, b, 'same defaults');
  }

  // stale: the schema changed since the build (a new key), so its key names no module
  const changed = { ...destinationSchema, properties: { ...destinationSchema.properties, priority: { type: 'integer', default: 1 } } };
  t.equal(precompiledValidator(changed), undefined, 'the changed schema has no module');
  before = validatorStats.compiled;
  const fresh = schemaValidator(changed);
  t.equal(validatorStats.compiled - before, 1, 'compiled');
  const spec = { name: 'd', path: 'file' };
  t.ok(fresh(spec), 'the new schema is the one checked');
  t.equal((spec as Record<string, unknown>).priority, 1, "the new key's default");
  const old = schemaValidator(destinationSchema);
  t.notOk(old({ name: 'd', path: 'file', priority: 2 }), 'the old schema would have refused the new key');

  // foreign: a file under the schema's key holding another schema's code
  await copyFile(precompiledFile(schemaKey(destinationSchema)), precompiledFile(schemaKey(sourceSchema), dir));
  t.equal(precompiledValidator(sourceSchema, dir), undefined, "a module recording another schema's key is not used");

  // broken: a module that does not load
  await writeFile(precompiledFile(schemaKey(changed), dir), 'this is not javascript(');
  t.equal(precompiledValidator(changed, dir), undefined, 'a module that throws is not used');
  before = validatorStats.compiled;
  t.ok(schemaValidator(changed, dir)({ name: 'd', path: 'file', priority: 2 }), 'compiled instead');
  t.equal(validatorStats.compiled - before, 1);
});

const VALUES: unknown[] = [null, true, 0, -1, 1.5, 7, '', 'x', 'v1.2.3', '10s', 'snake_case', [], ['x', ''], [1], {}, { a: 1 }];

/**
 * Specs to try on a schema, nested ones first: its required keys filled in, each key set to the
 * specs of its own schema, array items, each if/then branch of a `kind`, the enum's values and
 * near misses, then values of every JSON type.
 */
function specsFor(schema: Record<string, unknown>, depth = 0): unknown[] {
  type Node = { properties?: Record<string, Node>; required?: string[]; items?: Node; enum?: unknown[]; type?: unknown; allOf?: unknown[] };
  type Branch = { if?: { properties?: Record<string, { const?: unknown }> }; then?: Node };
  const s = schema as Node;
  const out: unknown[] = [];
  const cap = depth === 0 ? Number.POSITIVE_INFINITY : 40;
  if (depth < 4 && s.properties) {
    const base: Record<string, unknown> = {};
    for (const r of s.required ?? []) base[r] = s.properties[r]?.enum?.[0] ?? (s.properties[r]?.type === 'array' ? [] : 'a');
    out.push(base, { ...base, not_a_key: 1 }, { ...base, nmae: 'x' });
    for (const [p, sub] of Object.entries(s.properties)) for (const v of specsFor(sub, depth + 1).slice(0, cap)) out.push({ ...base, [p]: v });
  }
  if (depth < 4 && s.items) for (const v of specsFor(s.items, depth + 1)) out.push([v]);
  for (const branch of (s.allOf ?? []) as Branch[]) {
    const [k, c] = Object.entries(branch.if?.properties ?? {}).map(([k, v]) => [k, v.const] as const)[0] ?? [];
    if (k === undefined || !branch.then || depth >= 4) continue;
    out.push({ [k]: c });
    for (const v of specsFor(branch.then, depth + 1).slice(0, 40)) if (v && typeof v === 'object' && !Array.isArray(v)) out.push({ ...v, [k]: c });
  }
  out.push(...(s.enum ?? []).flatMap((e) => [e, `${String(e)}x`]), ...VALUES);
  return out;
}

t.test('precompiled and run-time compiled validators agree on verdicts, errors and defaults', async (t) => {
  const { Ajv } = await import('ajv');
  const ajv = new Ajv({ ...AJV_OPTIONS });
  let valid = 0;
  let invalid = 0;
  for (const { name, schema } of await builtinSchemas()) {
    const pre = precompiledValidator(schema);
    if (!pre) {
      t.fail(`${name}: no module`);
      continue;
    }
    const run: ValidateFunction = ajv.compile(schema);
    let mismatches = 0;
    const specs = specsFor(schema as Record<string, unknown>);
    for (const spec of specs) {
      const [a, b] = [structuredClone(spec), structuredClone(spec)];
      const [va, vb] = [pre(a), run(b)];
      va ? valid++ : invalid++;
      // the errors in full: keyword, paths, params, message, schema, parentSchema and data
      if (va !== vb || JSON.stringify(pre.errors) !== JSON.stringify(run.errors) || JSON.stringify(a) !== JSON.stringify(b)) {
        if (mismatches++ < 3) t.same({ va, errors: pre.errors, data: a }, { va: vb, errors: run.errors, data: b }, `${name}: ${JSON.stringify(spec)}`);
      }
    }
    t.equal(mismatches, 0, `${name}: ${specs.length} specs agree`);
  }
  t.ok(valid > 100 && invalid > 1000, `${valid} valid and ${invalid} invalid specs tried`);
});

t.test('the build wrote one module per distinct built-in schema and nothing else', async (t) => {
  const { readdir } = await import('node:fs/promises');
  const keys = new Set((await builtinSchemas()).map((s) => schemaKey(s.schema)));
  const files = (await readdir(PRECOMPILED_DIR)).sort();
  t.same(files, [...keys].map((k) => `${k}.cjs`).sort());
});
