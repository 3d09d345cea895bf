/**
 * Loaded into a plugin process by the plugin benches (docs/benchmarks.md) through
 * `NODE_OPTIONS=--import=<this file>`: when the process exits, its own peak RSS (getrusage
 * `ru_maxrss`, in bytes) is written to `$BENCH_RSS_OUT`. Nothing else is touched.
 */
import { writeFileSync } from 'node:fs';

const out = process.env.BENCH_RSS_OUT;
if (out) process.on('exit', () => writeFileSync(out, `${process.resourceUsage().maxRSS * 1024}\n`));
