/**
 * The import rule of docs/architecture.md, checked on the sources: lib/ (the engine) imports only
 * lib/ and no store driver; transforms/ and connectors/ import only lib/ and their own folder; bin/
 * and the package entry compose them. And the package entry loads no connector until one is used.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ROOT, repoFiles } from './helpers/index.js';

const LAYERS = ['lib', 'transforms', 'connectors', 'bin'] as const;
type Layer = (typeof LAYERS)[number] | 'index.ts';

/** what each layer may import (by top-level folder of the repository) */
const ALLOWED: Record<Layer, readonly string[]> = {
  lib: ['lib'],
  transforms: ['lib', 'transforms'],
  connectors: ['lib', 'connectors'],
  bin: ['lib', 'transforms', 'connectors', 'bin', 'index.ts'],
  'index.ts': ['lib', 'bin'],
};

/** packages only connectors may load (drivers and format codecs) */
const DRIVER_PACKAGES = /^(pg|pg-copy-streams|parquet-wasm|csv-parse|stream-json|fast-glob|@aws-sdk\/.*)$/;

const sources = (dir: string) => repoFiles(dir, '.ts');

/** every module specifier a file imports: static, re-exported and dynamic with a literal */
export function specifiers(text: string): { spec: string; line: number }[] {
  const out: { spec: string; line: number }[] = [];
  const re = /(?:^|[^.\w])(?:import|export)\s*(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2]!;
    const at = m.index + m[0].search(/import|export/);
    out.push({ spec, line: text.slice(0, at).split('\n').length });
  }
  return out;
}

function layerOf(rel: string): Layer | undefined {
  if (rel === 'index.ts') return 'index.ts';
  const top = rel.split(path.sep)[0] as Layer;
  return (LAYERS as readonly string[]).includes(top) ? top : undefined;
}

t.test('the import scanner finds static, type, re-export and dynamic imports', async (t) => {
  const found = specifiers(
    `import a from 'x';\nimport type { B } from "../y.js";\nexport { c } from './z.js';\nconst m = await import('../../w.js');\nimport './side.js';`,
  );
  t.same(
    found.map((f) => f.spec),
    ['x', '../y.js', './z.js', '../../w.js', './side.js'],
  );
  t.same(
    found.map((f) => f.line),
    [1, 2, 3, 4, 5],
  );
});

t.test('every import points down the layers (lib ← transforms, connectors ← bin, index.ts)', async (t) => {
  const files = ['index.ts', ...(await Promise.all(LAYERS.map((l) => sources(l)))).flat()];
  t.ok(files.length > 100, `scanned ${files.length} files`);
  const violations: string[] = [];
  let imports = 0;
  for (const file of files) {
    const from = layerOf(file)!;
    const text = await readFile(path.join(ROOT, file), 'utf8');
    for (const { spec, line } of specifiers(text)) {
      imports++;
      if (spec.startsWith('.')) {
        const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec));
        const to = target.startsWith('..') ? undefined : (layerOf(target) ?? target.split(path.sep)[0]);
        if (!to || !ALLOWED[from].includes(to)) violations.push(`${file}:${line} (${from}) imports ${spec} (${to ?? 'outside the repository'})`);
      } else if (from === 'lib' && DRIVER_PACKAGES.test(spec)) {
        violations.push(`${file}:${line} (lib) imports the driver package ${spec}: it belongs to a connector`);
      }
    }
  }
  t.ok(imports > 500, `checked ${imports} imports`);
  t.same(violations, [], 'no import runs up the layers');
});

t.test("import 'cq-pipe' loads no connector driver until one is used", async (t) => {
  const probe = (entry: string) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(path.join(ROOT, entry))});
    const cache = Object.keys(createRequire(import.meta.url).cache);
    const drivers = ['pg', 'pg-copy-streams', '@aws-sdk/client-s3'].filter((p) => cache.some((k) => k.includes('/node_modules/' + p + '/')));
    process.stdout.write(JSON.stringify(drivers));
  `,
      ],
      { encoding: 'utf8', cwd: ROOT },
    );
  const entry = probe('dist/index.js');
  t.equal(entry.status, 0, entry.stderr);
  t.same(JSON.parse(entry.stdout), [], 'the package entry loads no driver');
  // the probe can see a driver: the eager connectors entry loads them all
  const all = probe('dist/connectors/all.js');
  t.equal(all.status, 0, all.stderr);
  t.same(JSON.parse(all.stdout), ['pg', 'pg-copy-streams', '@aws-sdk/client-s3']);
});
