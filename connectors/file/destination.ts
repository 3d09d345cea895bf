// placeholder, replaced by the file destination implementation
import { defineDestination } from '../../lib/connector.js';
export const fileDestination = defineDestination<Record<string, unknown>>({
  name: 'file',
  configSchema: { type: 'object' },
  capabilities: { writeModes: ['append'], batch: { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 } },
  create() { throw new Error('file destination not implemented yet'); },
});
