import { defineSource } from '../lib/connector.js';
export const testSource = defineSource<Record<string, unknown>>({
  name: 'test', configSchema: { type: 'object' },
  create() { throw new Error('todo'); },
});
