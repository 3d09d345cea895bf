/** The bytes of a text input (ndjson, json, csv): gunzipped for .gz, gzip without the name refused. */
import { createGunzip } from 'node:zlib';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { SourceDataError, SourceReadError } from '../../../lib/errors.js';
import type { InputFile } from '../inputs.js';

/**
 * the bytes of an input, gunzipped when its name ends in .gz; a file that starts with gzip's magic
 * bytes without that name fails with a message saying it looks gzip-compressed
 */
export function openText(file: InputFile): Readable {
  const s = file.stream();
  if (!/\.gz$/i.test(file.name)) {
    let first = true;
    const sniff = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (first && chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
          cb(
            new SourceReadError(
              `${file.name} looks gzip-compressed (it starts with gzip's magic bytes 1f 8b) but its name does not end in .gz`,
              { file: file.name },
              undefined,
              `rename it to ${path.basename(file.name)}.gz so that it is gunzipped`,
            ),
          );
          return;
        }
        first = false;
        cb(null, chunk);
      },
    });
    s.on('error', (e) => sniff.destroy(e));
    return s.pipe(sniff);
  }
  // a damaged or truncated .gz fails as damaged data naming the file, not as zlib's bare words
  const gz = createGunzip();
  const out = new PassThrough();
  s.on('error', (e) => out.destroy(e));
  gz.on('error', (e: Error & { code?: string }) =>
    out.destroy(
      new SourceDataError(
        `${file.name} cannot be gunzipped: ${e.message} ` +
          `(${e.code === 'Z_BUF_ERROR' ? 'the file is truncated' : 'the file is damaged, or not gzip-compressed'})`,
        { file: file.name },
        e,
      ),
    ),
  );
  out.on('close', () => {
    s.destroy();
    gz.destroy();
  });
  return s.pipe(gz).pipe(out);
}
