/**
 * The NDJSON reader over inputs larger than its read and decode pieces (1 MiB reads, decoded 512
 * KiB at a time): multi-byte characters split across pieces stay whole, and invalid UTF-8 past the
 * first piece is reported on its own line.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { type CsvOptions, FORMATS, type RowFormat } from '../connectors/file/formats/index.js';
import { localFile } from '../connectors/file/inputs.js';
import type { SourceDataError } from '../lib/errors.js';
import { tmpDir } from './helpers/index.js';

const csv: CsvOptions = { delimiter: ',', quote: '"', escape: '"', header: true };
const ndjsonFormat = FORMATS.ndjson as RowFormat;

async function readAll(file: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const chunk of ndjsonFormat.read(localFile(file), { signal: new AbortController().signal, csv })) rows.push(...chunk.rows);
  return rows;
}

// one line: {"i":N,"s":"<text>"} where the text is 3-byte and 4-byte characters, so that piece
// boundaries at 512 KiB multiples fall inside characters
const text = (i: number) => `€${'ü'.repeat(i % 7)}😀${'x'.repeat(i % 5)}語`;
const line = (i: number) => JSON.stringify({ i, s: text(i) });

t.test('multi-byte characters across 512 KiB decode pieces and 1 MiB reads stay whole', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'big.ndjson');
  const n = 90_000; // about 3 MiB
  await writeFile(file, `${Array.from({ length: n }, (_, i) => line(i)).join('\n')}\n`);
  const rows = await readAll(file);
  t.equal(rows.length, n);
  let bad = -1;
  for (let i = 0; i < n && bad < 0; i++) if (rows[i]!.i !== i || rows[i]!.s !== text(i)) bad = i;
  t.equal(bad, -1, 'every row as written');
});

t.test('invalid UTF-8 in the second decode piece names its line', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'bad.ndjson');
  const lines = Array.from({ length: 30_000 }, (_, i) => line(i));
  const head = Buffer.from(`${lines.slice(0, 20_000).join('\n')}\n`);
  t.ok(head.length > 512 * 1024 && head.length < 1024 * 1024, 'the bad byte falls in the second piece of the first read');
  const bad = Buffer.concat([Buffer.from('{"i":-1,"s":"'), Buffer.from([0xff]), Buffer.from('"}\n')]);
  await writeFile(file, Buffer.concat([head, bad, Buffer.from(`${lines.slice(20_000).join('\n')}\n`)]));
  const err = (await readAll(file).then(
    () => undefined,
    (e: unknown) => e,
  )) as SourceDataError;
  t.equal(err?.message, 'invalid UTF-8');
  t.equal(err?.context.line, 20_001);
  t.equal(err?.context.file, file);
});
