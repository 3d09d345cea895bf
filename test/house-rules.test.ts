/**
 * House rules the linter does not check (docs/architecture.md): no line over 160 characters, no
 * `as never` casts, comments cite docs/ pages that exist, and the README lists every command.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ROOT, repoFiles } from './helpers/index.js';

const FOLDERS = ['lib', 'connectors', 'transforms', 'bin', 'test', 'bench', 'examples'];

const files = repoFiles;

const sources = async () => ['index.ts', ...(await Promise.all(FOLDERS.map((d) => files(d, '.ts')))).flat()];

t.test('source lines are at most 160 characters', async (t) => {
  const long: string[] = [];
  const all = await sources();
  t.ok(all.length > 150, `${all.length} files`);
  for (const f of all) {
    (await readFile(path.join(ROOT, f), 'utf8')).split('\n').forEach((l, i) => {
      if (l.length > 160) long.push(`${f}:${i + 1} (${l.length})`);
    });
  }
  t.same(long, []);
});

t.test('no `as never` casts hide type errors', async (t) => {
  const found: string[] = [];
  const needle = ['as', 'never'].join(' ');
  for (const f of await sources()) {
    if (f === path.join('test', 'house-rules.test.ts')) continue; // this file names the rule
    (await readFile(path.join(ROOT, f), 'utf8')).split('\n').forEach((l, i) => {
      if (new RegExp(`\\b${needle}\\b`).test(l)) found.push(`${f}:${i + 1}`);
    });
  }
  t.same(found, []);
});

t.test('comments cite docs that exist, not absent documents', async (t) => {
  const absent: string[] = [];
  const stale: string[] = [];
  const texts = [...(await sources()), ...(await files('docs', '.md')), 'README.md'];
  const spec = new RegExp(['SPEC', '§'].join(' ') + '|' + ['reference', '§'].join(' '));
  let cited = 0;
  for (const f of texts) {
    const text = await readFile(path.join(ROOT, f), 'utf8');
    text.split('\n').forEach((l, i) => {
      if (spec.test(l)) stale.push(`${f}:${i + 1}`);
    });
    for (const m of text.matchAll(/\bdocs\/([\w-]+\.md)/g)) {
      cited++;
      await readFile(path.join(ROOT, 'docs', m[1]!)).catch(() => absent.push(`${f} cites docs/${m[1]}`));
    }
  }
  t.ok(cited > 30, `${cited} citations of docs/ pages`);
  t.same(stale, [], 'no citation of documents that are not in the repository');
  t.same([...new Set(absent)], []);
});

t.test("the README's commands table lists every command of the CLI", async (t) => {
  const cli = await readFile(path.join(ROOT, 'bin/cq-pipe.ts'), 'utf8');
  const table = cli.slice(cli.indexOf('const COMMANDS'), cli.indexOf('} as const'));
  const commands = [...table.matchAll(/^ {2}'?([\w-]+)'?: \{/gm)].map((m) => m[1]!);
  t.ok(commands.length >= 9, commands.join(', '));
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Commands'), readme.indexOf('### Pipes'));
  t.notMatch(section, /\|\n\n\|/, 'the table is not broken by a blank line');
  t.same(
    commands.filter((c) => !section.includes(`\`cq-pipe ${c}`)),
    [],
    'every command has a row',
  );
});
