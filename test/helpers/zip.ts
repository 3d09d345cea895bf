/** A zip archive of a few files (deflated), as a plugin release on the CloudQuery Hub or GitHub is packed. */
import { zipSync } from 'fflate';

export function zipFiles(files: Record<string, string | Buffer>): Buffer {
  const entries = Object.fromEntries(Object.entries(files).map(([name, c]) => [name, typeof c === 'string' ? Buffer.from(c) : new Uint8Array(c)]));
  return Buffer.from(zipSync(entries, { level: 6 }));
}
