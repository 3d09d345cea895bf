/**
 * How a sync opens its two sides (lib/pipeline.ts syncSource): the source and its destinations
 * open at the same time — a plugin source's process starts while the destinations connect — and a
 * failure on either side closes what the other opened, reporting the source's failure first.
 */
import t from 'tap';
import { SourceReadError, DestinationWriteError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { runSync } from '../lib/pipeline.js';
import { ITEMS, config, destSpec, sourceSpec } from './helpers/index.js';
import { PROBE_DESTINATION_PATH, PROBE_SOURCE_PATH, registerProbe } from './helpers/probe-connectors.js';

const logger = createLogger({ level: 'error' });
const sync = (key: string) =>
  runSync({
    config: config([sourceSpec({ path: PROBE_SOURCE_PATH, spec: { key } })], [destSpec({ name: 'dst', path: PROBE_DESTINATION_PATH, spec: { key } })]),
    logger,
  });

t.test('the destination opens while the source is still listing its tables', async (t) => {
  // the listing answers only once the destination has opened: opened one after the other, it would wait forever
  const { key, probe } = registerProbe([ITEMS]);
  let timer: NodeJS.Timeout | undefined;
  probe.listAfter = Promise.race([
    probe.destOpened,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the destination did not open while the source listed its tables')), 20_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const r = await sync(key);
  t.equal(r.errors.length, 0, JSON.stringify(r.errors.map((e) => e.message)));
  t.ok(probe.events.indexOf('dest-open') < probe.events.indexOf('source-tables'), probe.events.join(', '));
  t.same(probe.events.slice(-2), ['dest-close', 'source-close'], 'both closed at the end, the destination committed');
});

t.test("a source that fails to list its tables: the sync fails with the source's error, the opened destination is closed with it", async (t) => {
  const { key, probe } = registerProbe([ITEMS], { listError: new SourceReadError('listing failed on purpose', { connector: 'src' }) });
  const r = await sync(key);
  t.match(r.fatal, { code: 'CQ_ERR_SOURCE_READ', message: /listing failed on purpose/ });
  t.same(
    probe.events.filter((e) => e.startsWith('dest')),
    ['dest-open', 'dest-close(listing failed on purpose)'],
    'closed with the error: nothing committed',
  );
});

t.test("a destination that fails to open: the sync fails with the destination's error, the source is closed and never read", async (t) => {
  const { key, probe } = registerProbe([ITEMS], { openError: new DestinationWriteError('cannot connect on purpose', { connector: 'dst' }) });
  const r = await sync(key);
  t.match(r.fatal, { code: 'CQ_ERR_DEST_WRITE', message: /cannot connect on purpose/ });
  t.same(
    probe.events.filter((e) => e.startsWith('source')),
    ['source-open', 'source-tables', 'source-close'],
  );
  t.notOk(probe.events.includes('dest-close'), 'nothing to close on the destination side');
});
