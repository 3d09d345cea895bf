/** OpenTelemetry: spans and counters appear once an SDK is registered (and nothing needs one). */
import t from 'tap';
import { metrics, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { runSync } from '../lib/pipeline.js';
import { SourceDataError } from '../lib/errors.js';
import { ITEMS, config, destSpec, inserts, itemsBatch, staticSource } from './helpers/index.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

t.test('a sync emits cq-pipe.sync and cq-pipe.write-batch spans and row / error counters', async (t) => {
  const spans = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  trace.setGlobalTracerProvider(provider);
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const meters = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meters);
  t.teardown(() => {
    trace.disable();
    metrics.disable();
  });

  const { spec: src } = staticSource(
    [ITEMS],
    [
      ...inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'a', value: 1 },
          { id: 2, name: 'b', value: 2 },
        ]),
      ),
      { kind: 'table-error', table: 'items', error: new SourceDataError('bad record', { table: 'items' }) },
    ],
    { destinations: ['m_otel'] },
  );
  const res = await runSync({ config: config([src], [destSpec({ name: 'm_otel', path: 'memory' })]) });
  t.equal(exitCodeOfSync(res), 1);
  await reader.forceFlush();
  const names = spans.getFinishedSpans().map((s) => s.name);
  t.ok(names.includes('cq-pipe.sync'));
  t.ok(names.includes('cq-pipe.write-batch'));
  const sync = spans.getFinishedSpans().find((s) => s.name === 'cq-pipe.sync')!;
  t.equal(sync.attributes['cq.source'], 'src');
  t.equal(sync.attributes['cq.rows'], 2);
  t.equal(sync.attributes['cq.table_errors'], 1);
  const batch = spans.getFinishedSpans().find((s) => s.name === 'cq-pipe.write-batch')!;
  t.same([batch.attributes['cq.table'], batch.attributes['cq.rows'], batch.attributes['cq.destination']], ['items', 2, 'm_otel']);
  const all = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
  const sum = (name: string) =>
    all
      .filter((m) => m.descriptor.name === name)
      .flatMap((m) => m.dataPoints as { value: unknown }[])
      .reduce((n, p) => n + (p.value as number), 0);
  t.equal(sum('cq_pipe.rows_written'), 2);
  t.equal(sum('cq_pipe.table_errors'), 1);
  await meters.shutdown();
  await provider.shutdown();
});
