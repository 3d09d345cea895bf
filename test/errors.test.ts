import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ERROR_CODES, ConfigError, CqPipeError, toCqPipeError } from '../lib/errors.js';
import { ROOT } from './helpers/index.js';

t.test('every error code is documented in docs/errors.md', async (t) => {
  const doc = await readFile(path.join(ROOT, 'docs/errors.md'), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) t.ok(doc.includes(`\`${code}\``), code);
});

t.test('errors carry code, exit code and context; instanceof works by symbol', async (t) => {
  const e = new ConfigError('bad', { file: 'a.yml', document: 2, keyPath: 'spec.x', line: 4 });
  t.equal(e.code, 'CQ_ERR_CONFIG_INVALID');
  t.equal(e.exitCode, 2);
  t.equal(e.where(), 'a.yml:4, document 2, key spec.x');
  t.ok(e instanceof CqPipeError);
  t.notOk(new Error('x') instanceof CqPipeError);
  t.equal(toCqPipeError(new Error('boom')).code, 'CQ_ERR_INTERNAL');
  t.equal(toCqPipeError(e), e);
});
