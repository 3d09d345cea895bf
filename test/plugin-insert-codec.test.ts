/**
 * The plugin wire's insert fast path (connectors/cloudquery-plugin/insert-codec.ts): the bytes are
 * exactly the generated protobuf code's, a record read back is the same bytes (a view when aligned,
 * an aligned copy otherwise), every other message is left to the generated code; a served plugin
 * offers an 8 MiB HTTP/2 receive window; `plugin <name> serve` loads only what serving needs.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http2 from 'node:http2';
import { statSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { pluginV3 } from '@cloudquery/plugin-pb-javascript';
import { createRequire } from 'node:module';
import { decodeInsertMessage, encodeInsertMessage, insertRecord, pluginServiceDefinition } from '../connectors/cloudquery-plugin/insert-codec.js';
import { installFraming, recordOffset } from '../connectors/cloudquery-plugin/grpc-framing.js';
import { encodeRecord, decodeRecord } from '../connectors/cloudquery-plugin/arrow-wire.js';
import { ipcStreamPieces } from '../lib/arrow/ipc-write.js';
import { PluginConnection } from '../connectors/cloudquery-plugin/grpc-client.js';
import { RECEIVE_WINDOW_BYTES } from '../connectors/cloudquery-plugin/serve/receive-window.js';
import { startPluginServer } from '../connectors/cloudquery-plugin/serve/server.js';
import { generateBatch, testSource, testTableSchemas } from '../connectors/test-source.js';
import { createLogger } from '../lib/logger.js';
import { CLI, ROOT, tmpDir } from './helpers/index.js';

const v3 = pluginV3.cloudquery.plugin.v3;

/** a record of n bytes, every byte different from its neighbours */
const recordOf = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 251);

// lengths around every varint width boundary of the record and of the insert around it
const LENGTHS = [1, 2, 125, 126, 127, 128, 129, 16_380, 16_381, 16_383, 16_384, 2_097_148, 2_097_151, 2_097_152];

t.test('an insert is written byte for byte as the generated code writes it, for Sync and Write', async (t) => {
  for (const n of LENGTHS) {
    const record = recordOf(n);
    const mine = encodeInsertMessage(record);
    const sync = Buffer.from(new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({ record }) }).serialize());
    const write = Buffer.from(new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record }) }).serialize());
    t.ok(mine.equals(sync), `Sync.Response, ${n} bytes`);
    t.ok(mine.equals(write), `Write.Request, ${n} bytes`);
  }
});

t.test('an insert is read as its record: a view when it starts 8-byte aligned, else an aligned copy', async (t) => {
  for (const n of LENGTHS) {
    const record = recordOf(n);
    const bytes = encodeInsertMessage(record);
    const header = bytes.length - n;
    for (const shift of [0, 1, 3, 5, 8]) {
      const backing = new Uint8Array(bytes.length + 16);
      backing.set(bytes, shift);
      const received = backing.subarray(shift, shift + bytes.length);
      const got = decodeInsertMessage(received);
      t.ok(got && Buffer.from(got).equals(Buffer.from(record)), `${n} bytes at ${shift}: the record`);
      t.equal(got!.byteOffset % 8, 0, `${n} bytes at ${shift}: 8-byte aligned`);
      t.equal(got!.buffer === backing.buffer, (shift + header) % 8 === 0, `${n} bytes at ${shift}: a view exactly when aligned`);
    }
  }
});

t.test('any other message is left to the generated code', async (t) => {
  const others: [string, Uint8Array][] = [
    ['migrate_table', new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table: recordOf(40) }) }).serialize()],
    ['error', new v3.Sync.Response({ error: new v3.Sync.MessageError({ table_name: 't', error: 'boom' }) }).serialize()],
    ['an insert with an empty record', new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({}) }).serialize()],
    ['delete', new v3.Write.Request({ delete: new v3.Write.MessageDeleteStale({ table_name: 't', source_name: 's' }) }).serialize()],
    ['empty', new Uint8Array(0)],
    // an insert followed by a second field: merged by protobuf, not the fast path's business
    [
      'insert then migrate_table',
      Buffer.concat([
        encodeInsertMessage(recordOf(10)),
        new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table: recordOf(3) }) }).serialize(),
      ]),
    ],
    ['a truncated insert', encodeInsertMessage(recordOf(300)).subarray(0, 200)],
  ];
  for (const [what, bytes] of others) t.equal(decodeInsertMessage(bytes), undefined, what);

  // through the service definition: the same messages as the generated (de)serializers give
  const def = pluginServiceDefinition();
  const generated = v3.UnimplementedPluginService.definition;
  for (const [what, bytes] of others.slice(0, 3)) {
    const ours = def.Sync!.responseDeserialize(Buffer.from(bytes)) as InstanceType<typeof v3.Sync.Response>;
    const theirs = generated.Sync.responseDeserialize(Buffer.from(bytes));
    t.same(ours.toObject(), theirs.toObject(), `Sync ${what}`);
  }
  const insert = def.Write!.requestDeserialize(encodeInsertMessage(recordOf(1000))) as InstanceType<typeof v3.Write.Request>;
  t.ok(insert.has_insert && Buffer.from(insert.insert.record).equals(Buffer.from(recordOf(1000))), 'a Write insert as a Write.Request');
  const msg = new v3.Write.Request({ migrate_table: new v3.Write.MessageMigrateTable({ table: recordOf(5), migrate_force: true }) });
  t.ok((def.Write!.requestSerialize(msg) as Buffer).equals(generated.Write.requestSerialize(msg)), 'a Write migrate_table as generated');
});

/** cq-pipe's test source served as a plugin on a unix socket */
const serveTestSource = (socket: string) =>
  startPluginServer({
    connectors: { name: 'test', source: testSource },
    version: 'v0.0.0-test',
    network: 'unix',
    address: socket,
    logger: createLogger({ level: 'error' }),
  });

/** grpc-js's stream decoder, with our write and its own */
type Decoder = { write(b: Buffer): Buffer[] };
const grpcInternals = createRequire(import.meta.url);
const StreamDecoder = grpcInternals('@grpc/grpc-js/build/src/stream-decoder.js').StreamDecoder as {
  new (max: number): Decoder;
  prototype: { write: ((b: Buffer) => Buffer[]) & { original?: (b: Buffer) => Buffer[] } };
};

/** a gRPC frame: flag 0, length, message */
const frame = (m: Uint8Array) => {
  const f = Buffer.alloc(m.length + 5);
  f.writeUInt32BE(m.length, 1);
  f.set(m, 5);
  return f;
};

t.test("grpc-js's framing is replaced: its decoder, the client's send and the server's send", async (t) => {
  t.same(installFraming(), { decoder: true, clientSend: true, serverSend: true });
  t.equal(typeof StreamDecoder.prototype.write.original, 'function', "grpc-js's own decoder is kept");
});

t.test("the decoder gives grpc-js's messages, copied once, each insert's record 8-byte aligned", async (t) => {
  installFraming();
  const original = StreamDecoder.prototype.write.original!;
  const messages: Uint8Array[] = [
    ...[1, 127, 128, 16_383, 16_384, 70_000].map((n) => encodeInsertMessage(recordOf(n))),
    new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table: recordOf(40) }) }).serialize(),
    new Uint8Array(0),
    new v3.Sync.Response({ error: new v3.Sync.MessageError({ table_name: 't', error: 'boom' }) }).serialize(),
    // looks like an insert in its first bytes, shorter than the probe
    Uint8Array.of(0x12, 0x02, 0x0a, 0x00),
  ];
  const stream = Buffer.concat(messages.map(frame));
  const chunkings: [string, number[]][] = [
    ['whole', [stream.length]],
    ['byte by byte', Array.from({ length: stream.length }, () => 1)],
    ['3, 7, 11 …', Array.from({ length: stream.length }, (_, i) => [3, 7, 11, 16_384, 5][i % 5]!)],
    ['64 KiB', Array.from({ length: Math.ceil(stream.length / 65_536) }, () => 65_536)],
  ];
  for (const [what, sizes] of chunkings) {
    const ours = new StreamDecoder(-1);
    const theirs = new StreamDecoder(-1);
    const got: Buffer[] = [];
    const want: Buffer[] = [];
    for (let at = 0, k = 0; at < stream.length; at += sizes[k++]!) {
      const chunk = stream.subarray(at, at + sizes[k]!);
      got.push(...ours.write(chunk));
      want.push(...original.call(theirs, chunk));
    }
    t.equal(got.length, messages.length, `${what}: every message`);
    t.ok(
      got.every((g, i) => g.equals(want[i]!)),
      `${what}: the bytes grpc-js's decoder gives`,
    );
    const inserts = got.slice(0, 6);
    t.same(
      inserts.map((g) => (g.byteOffset + 5 + recordOffset(g.subarray(5), 12)) % 8),
      [0, 0, 0, 0, 0, 0],
      `${what}: records start 8-byte aligned`,
    );
    t.ok(
      inserts.every((g) => decodeInsertMessage(g.subarray(5))!.buffer === g.buffer),
      `${what}: records are read as views`,
    );
  }
  const small = new StreamDecoder(10);
  const big = frame(recordOf(11));
  t.throws(() => small.write(big), { message: 'Received message larger than max (11 vs 10)' }, "a message over the limit: grpc-js's error");
  t.throws(() => original.call(new StreamDecoder(10), big), { message: 'Received message larger than max (11 vs 10)' });
});

t.test('an insert is copied once on its way out: its record into the message, which is framed in place', async (t) => {
  const spec = { num_tables: 1, num_rows: 3000, seed: 42, batch_rows: 10_000, preset: 'bench', incremental: false } as const;
  const batch = generateBatch(spec, testTableSchemas(spec)[0]!, 0, 0, 3000);
  const pieces = ipcStreamPieces(batch);
  t.ok(Buffer.concat(pieces).equals(Buffer.from(encodeRecord(batch))), "the pieces are encodeRecord's bytes");
  const record = insertRecord(pieces);
  const msg = new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({ record }) });
  const bytes = pluginServiceDefinition().Sync!.responseSerialize(msg) as Buffer;
  t.ok(bytes.equals(Buffer.from(msg.serialize())), 'the generated bytes');
  t.equal(bytes.buffer, record.buffer, 'the message around the record, not a copy');
});

t.test('rows served by `plugin test serve` arrive as views of the received frames, and whole', async (t) => {
  const dir = await tmpDir(t, 'cq-frames-');
  const socket = path.join(dir, 'p.sock');
  const server = await serveTestSource(socket);
  const conn = await PluginConnection.open({ name: 'test', address: socket }, `unix:${socket}`);
  try {
    await conn.init({ num_rows: 25_000, preset: 'bench', batch_rows: 7_000 }, 'inv');
    let rows = 0;
    let views = 0;
    let inserts = 0;
    for await (const res of conn.sync({ tables: ['*'], deterministicCqId: false })) {
      if (!res.has_insert) continue;
      inserts++;
      const record = res.insert.record;
      if (record.buffer.byteLength > record.length && record.byteOffset % 8 === 0) views++;
      for (const b of decodeRecord(record).batches) rows += b.numRows;
    }
    t.equal(rows, 25_000, 'every row');
    t.equal(inserts, 4, 'one insert per batch');
    t.equal(views, 4, 'each record a view of its frame');
  } finally {
    conn.close();
    await server.stop();
  }
});

t.test('starting a local plugin loads no gRPC code first: the client code loads while the process starts', async (t) => {
  const spawnModule = pathToFileURL(path.join(ROOT, 'dist/connectors/cloudquery-plugin/spawn.js')).href;
  const script =
    `import { createRequire } from 'node:module';\n` +
    `await import(${JSON.stringify(spawnModule)});\n` +
    `const cache = createRequire(import.meta.url).cache;\n` +
    `console.log(JSON.stringify(Object.keys(cache).filter((k) => /@grpc|plugin-pb-javascript|google-protobuf/.test(k)).length));\n`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
  t.equal(out.trim(), '0', 'spawn.js loads no grpc-js, no generated protobuf code');
});

t.test('a served plugin offers an 8 MiB HTTP/2 receive window, stream and connection', async (t) => {
  const dir = await tmpDir(t, 'cq-win-');
  const socket = path.join(dir, 'p.sock');
  const server = await serveTestSource(socket);
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
  session.on('error', () => {});
  try {
    const [settings] = (await once(session, 'remoteSettings')) as [http2.Settings];
    t.equal(settings.initialWindowSize, RECEIVE_WINDOW_BYTES, 'the stream window it announces');
    // the connection window arrives as a WINDOW_UPDATE right after the settings
    for (let i = 0; i < 100 && session.state.remoteWindowSize !== RECEIVE_WINDOW_BYTES; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(session.state.remoteWindowSize, RECEIVE_WINDOW_BYTES, 'the connection window');
  } finally {
    session.destroy();
    await server.stop();
  }
  t.equal(RECEIVE_WINDOW_BYTES, 8 * 1024 * 1024);
});

t.test('`cq-pipe plugin test serve` loads the serve code and the test source, no other command or connector', async (t) => {
  const dir = await tmpDir(t, 'cq-serve-load-');
  const list = path.join(dir, 'loaded.txt');
  const hooks = path.join(dir, 'hooks.mjs');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';\n` +
      `export async function load(url, ctx, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, ctx); }\n`,
  );
  const register = path.join(dir, 'register.mjs');
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const socket = path.join(dir, 's.sock');
  const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, CLI, 'plugin', 'test', 'serve', '--network', 'unix', '--address', socket], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  // polled every millisecond, so the signal comes right after the socket appears
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !(statSync(socket, { throwIfNoEntry: false })?.isSocket() ?? false)) await new Promise((r) => setTimeout(r, 1));
  child.kill('SIGINT');
  const [code] = await exited;
  t.equal(code, 0, 'served, then stopped on SIGINT sent the moment its socket appeared');
  t.equal(
    await stat(socket).then(
      () => 'there',
      () => 'removed',
    ),
    'removed',
    'the socket is removed',
  );
  const dist = `${pathToFileURL(path.join(ROOT, 'dist')).href}/`;
  const loaded = (await readFile(list, 'utf8'))
    .split('\n')
    .filter((u) => u.startsWith(dist))
    .map((u) => u.slice(dist.length));
  for (const m of [
    'bin/commands/plugin.js',
    'connectors/cloudquery-plugin/serve/server.js',
    'connectors/cloudquery-plugin/insert-codec.js',
    'connectors/test-source.js',
  ]) {
    t.ok(loaded.includes(m), `loads ${m}`);
  }
  const others = loaded.filter(
    (m) => /^bin\/commands\/(?!plugin\.js|common\.js)/.test(m) || /^connectors\/(postgresql|file|s3|object-writer)\//.test(m) || m === 'bin/config.js',
  );
  t.same(others, [], 'no other command, no other connector, no config loader');
});
