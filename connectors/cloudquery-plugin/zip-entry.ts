/**
 * One file out of a zip archive (a CloudQuery plugin release, docs/plugins.md), read with fflate.
 * The archive's integrity is the download's concern (the Hub's SHA-256); this names what is wrong
 * when the archive cannot give the file.
 */
import { unzipSync } from 'fflate';

/** Why an archive cannot give the file; the caller names the plugin and the archive. */
export class ZipEntryError extends Error {}

/** The bytes of the file `name` in the archive. */
export function readZipEntry(zip: Buffer, name: string): Buffer {
  const names: string[] = [];
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip, {
      filter: (f) => {
        names.push(f.name);
        return f.name === name;
      },
    });
  } catch (err) {
    throw new ZipEntryError(`not a readable zip archive (${(err as Error).message})`);
  }
  const bytes = files[name];
  if (!bytes) throw new ZipEntryError(`it has no file ${name} (it has ${names.length ? names.join(', ') : 'no files'})`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
