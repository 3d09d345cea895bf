import { startEmbeddedPostgres } from '/work/main/dist/test/helpers/pg-server.js';
const pg = await startEmbeddedPostgres();
console.log(pg.url);
process.on('SIGTERM', async () => { await pg.stop(); process.exit(0); });
setInterval(() => {}, 1e9);
