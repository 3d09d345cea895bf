// placeholder, replaced by the file source implementation
import { defineSource } from '../../lib/connector.js';
export const fileSource = defineSource<Record<string, unknown>>({
  name: 'file',
  configSchema: { type: 'object' },
  create() { throw new Error('file source not implemented yet'); },
});
