/**
 * One file out of a zip archive (a CloudQuery plugin release, docs/plugins.md): the central
 * directory is read from the end of the archive, the entry found by name, and its bytes stored or
 * inflated and checked against the entry's CRC-32. Enough for plugin archives: no zip64, no
 * encryption, no multi-disk archives.
 */
import zlib from 'node:zlib';

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
/** the end-of-central-directory record is 22 bytes plus a comment of at most 64 KiB */
const EOCD_SEARCH = 22 + 0xffff;

/** Why an archive cannot give the file; the caller names the plugin and the archive. */
export class ZipEntryError extends Error {}

function endOfCentralDirectory(zip: Buffer): number {
  for (let p = zip.length - 22; p >= Math.max(0, zip.length - EOCD_SEARCH); p--) {
    if (zip.readUInt32LE(p) === EOCD_SIGNATURE) return p;
  }
  throw new ZipEntryError('not a zip archive (no end of central directory)');
}

/** The names of the files in the archive, in directory order. */
export function zipEntryNames(zip: Buffer): string[] {
  return [...centralEntries(zip)].map((e) => e.name);
}

interface CentralEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  localOffset: number;
}

function* centralEntries(zip: Buffer): Generator<CentralEntry> {
  const eocd = endOfCentralDirectory(zip);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== CENTRAL_SIGNATURE) throw new ZipEntryError('corrupt central directory');
    const nameLength = zip.readUInt16LE(p + 28);
    const extraLength = zip.readUInt16LE(p + 30);
    const commentLength = zip.readUInt16LE(p + 32);
    yield {
      method: zip.readUInt16LE(p + 10),
      crc: zip.readUInt32LE(p + 16),
      compressedSize: zip.readUInt32LE(p + 20),
      localOffset: zip.readUInt32LE(p + 42),
      name: zip.toString('utf8', p + 46, p + 46 + nameLength),
    };
    p += 46 + nameLength + extraLength + commentLength;
  }
}

/** The bytes of the file `name` in the archive; a ZipEntryError listing the archive's files when it is absent. */
export function readZipEntry(zip: Buffer, name: string): Buffer {
  const entries = [...centralEntries(zip)];
  const e = entries.find((x) => x.name === name);
  if (!e) throw new ZipEntryError(`it has no file ${name} (it holds: ${entries.map((x) => x.name).join(', ') || 'nothing'})`);
  const p = e.localOffset;
  if (p + 30 > zip.length || zip.readUInt32LE(p) !== LOCAL_SIGNATURE) throw new ZipEntryError(`corrupt local header of ${name}`);
  const start = p + 30 + zip.readUInt16LE(p + 26) + zip.readUInt16LE(p + 28);
  const raw = zip.subarray(start, start + e.compressedSize);
  let data: Buffer;
  if (e.method === 0) data = Buffer.from(raw);
  else if (e.method === 8) data = zlib.inflateRawSync(raw);
  else throw new ZipEntryError(`${name} uses compression method ${e.method} (only stored and deflate are read)`);
  // zlib.crc32 exists from Node 20.15 on
  const crc32 = (zlib as { crc32?: (d: Buffer) => number }).crc32;
  if (crc32 && crc32(data) >>> 0 !== e.crc >>> 0) throw new ZipEntryError(`${name} fails its CRC-32 check`);
  return data;
}
