/**
 * Every built-in connector descriptor, loaded eagerly ('cq-pipe/connectors'), for library users
 * who compose a pipeline by hand. The engine and the CLI use the lazy registry in ./index.ts.
 */
export { testSource } from './test-source.js';
export { fileSource } from './file/source.js';
export { fileDestination } from './file/destination.js';
export { memoryDestination, memoryTables } from './memory.js';
export { testDestination } from './test-destination.js';
export { postgresDestination } from './postgresql/destination.js';
export { postgresSource } from './postgresql/source.js';
export { s3Source } from './s3/source.js';
export { s3Destination } from './s3/destination.js';
export { connectorRegistry, resolveSource, resolveDestination, resolveStateBackend, SOURCES, DESTINATIONS } from './index.js';
