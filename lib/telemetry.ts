/**
 * OpenTelemetry traces and metrics through `@opentelemetry/api` only: without an SDK registered
 * (the default) every call is a no-op. Register one before cq-pipe runs (docs/observability.md)
 * to get a `cq-pipe.sync` span per source, a `cq-pipe.write-batch` span per batch written, and the
 * counters `cq_pipe.rows_written` and `cq_pipe.table_errors` (attributes: source, destination, table).
 */
import { SpanStatusCode, metrics, trace, type Attributes, type Span } from '@opentelemetry/api';
import { VERSION } from './version.js';

const tracer = () => trace.getTracer('cq-pipe', VERSION);
const meter = () => metrics.getMeter('cq-pipe', VERSION);

let rowsCounter: ReturnType<ReturnType<typeof meter>['createCounter']> | undefined;
let errorsCounter: ReturnType<ReturnType<typeof meter>['createCounter']> | undefined;

/** forget the counters made so far: the next count makes them against the meter provider registered then (lib/otel-export.ts) */
export function resetInstruments(): void {
  rowsCounter = undefined;
  errorsCounter = undefined;
}

export function countRows(rows: number, attributes: Attributes): void {
  rowsCounter ??= meter().createCounter('cq_pipe.rows_written', { description: 'rows committed to a destination', unit: '{row}' });
  rowsCounter.add(rows, attributes);
}

export function countTableError(attributes: Attributes): void {
  errorsCounter ??= meter().createCounter('cq_pipe.table_errors', { description: 'tables that failed' });
  errorsCounter.add(1, attributes);
}

/** run `fn` inside a span; errors mark the span and are rethrown */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      const r = await fn(span);
      span.setStatus({ code: SpanStatusCode.OK });
      return r;
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}
