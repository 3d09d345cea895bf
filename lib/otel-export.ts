/**
 * `otel_endpoint` / `otel_endpoint_insecure` of sources and destinations (docs/observability.md): the
 * spans and counters of lib/telemetry.ts exported over OTLP/HTTP with JSON bodies to
 * `https://<endpoint>/v1/traces` and `/v1/metrics` (`http://` when insecure), for one sync. The
 * OpenTelemetry SDK and exporters are imported only when an endpoint is set. Export failures are
 * warnings: telemetry never fails a sync.
 */
import { metrics, trace } from '@opentelemetry/api';
import type { LoadedConfig } from './config/types.js';
import type { Logger } from './logger.js';
import { resetInstruments } from './telemetry.js';
import { VERSION } from './version.js';

/** how long one export may take (retries included) before it is given up with a warning */
const EXPORT_TIMEOUT_MS = 5000;

export interface OtelTarget {
  endpoint: string;
  insecure: boolean;
}

export interface OtelExport {
  /** the base URLs exported to */
  readonly urls: string[];
  /** flush what is buffered and stop; never throws. Resolves to the number of failed exports. */
  shutdown(): Promise<number>;
}

/** `host:port` (CloudQuery's form) → base URL; a value with a scheme is taken as it is. */
export function otelBaseUrl(t: OtelTarget): string {
  const base = /^https?:\/\//i.test(t.endpoint) ? t.endpoint : `${t.insecure ? 'http' : 'https'}://${t.endpoint}`;
  return base.replace(/\/+$/, '');
}

/** the distinct endpoints the config's sources and destinations name */
export function otelTargets(config: Pick<LoadedConfig, 'sources' | 'destinations'>): OtelTarget[] {
  const seen = new Map<string, OtelTarget>();
  for (const p of [...config.sources, ...config.destinations]) {
    if (!p.otel_endpoint) continue;
    const t = { endpoint: p.otel_endpoint, insecure: p.otel_endpoint_insecure === true };
    seen.set(otelBaseUrl(t), t);
  }
  return [...seen.values()];
}

type ExportResult = { code: number; error?: Error };
/** report failed exports of `exporter` (its export callback) without changing what it does */
function watchFailures<E extends { export(items: never, done: (r: ExportResult) => void): void }>(exporter: E, onFail: (err?: Error) => void): E {
  const original = exporter.export.bind(exporter) as (items: unknown, done: (r: ExportResult) => void) => void;
  Object.assign(exporter, {
    export: (items: unknown, done: (r: ExportResult) => void) =>
      original(items, (r) => {
        if (r.code !== 0) onFail(r.error);
        done(r);
      }),
  });
  return exporter;
}

const loadSdk = () =>
  Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/exporter-metrics-otlp-http'),
    import('@opentelemetry/resources'),
  ]);

/**
 * Start exporting to the config's endpoints: a tracer provider and a meter provider registered as the
 * global ones for the sync. Undefined when no source or destination sets `otel_endpoint`, or when an
 * SDK is already registered (a preloaded setup module wins; a warning says so).
 */
export async function startOtelExport(config: Pick<LoadedConfig, 'sources' | 'destinations'>, logger: Logger): Promise<OtelExport | undefined> {
  const targets = otelTargets(config);
  if (!targets.length) return undefined;
  let sdk: Awaited<ReturnType<typeof loadSdk>>;
  try {
    sdk = await loadSdk();
  } catch (err) {
    logger.warn('otel_endpoint is set but the OpenTelemetry SDK could not be loaded; nothing is exported', { error: (err as Error).message });
    return undefined;
  }
  const [{ BasicTracerProvider, BatchSpanProcessor }, { MeterProvider, PeriodicExportingMetricReader }, { OTLPTraceExporter }, { OTLPMetricExporter }, res] =
    sdk;
  const urls = targets.map(otelBaseUrl);
  let failures = 0;
  const warned = new Set<string>();
  const onFail = (url: string) => (err?: Error) => {
    failures++;
    if (warned.has(url)) return;
    warned.add(url);
    logger.warn(`OpenTelemetry export to ${url} failed; the sync goes on without it`, { error: err?.message ?? 'unknown error' });
  };
  const resource = res.resourceFromAttributes({ 'service.name': 'cq-pipe', 'service.version': VERSION });
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: urls.map(
      (url) => new BatchSpanProcessor(watchFailures(new OTLPTraceExporter({ url: `${url}/v1/traces`, timeoutMillis: EXPORT_TIMEOUT_MS }), onFail(url))),
    ),
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: urls.map(
      (url) =>
        new PeriodicExportingMetricReader({
          exporter: watchFailures(new OTLPMetricExporter({ url: `${url}/v1/metrics`, timeoutMillis: EXPORT_TIMEOUT_MS }), onFail(url)),
          exportTimeoutMillis: EXPORT_TIMEOUT_MS,
        }),
    ),
  });
  const traced = trace.setGlobalTracerProvider(tracerProvider);
  const metered = metrics.setGlobalMeterProvider(meterProvider);
  if (!traced || !metered) {
    if (traced) trace.disable();
    if (metered) metrics.disable();
    logger.warn('an OpenTelemetry SDK is already registered: otel_endpoint is not used, the registered SDK exports instead');
    await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
    return undefined;
  }
  // counters made before (against no SDK) are no-ops: make them again against this provider
  resetInstruments();
  logger.debug('exporting OpenTelemetry traces and metrics', { endpoints: urls.join(',') });
  return {
    urls,
    async shutdown() {
      // shutting down flushes: the span processors export what they hold, the metric readers collect and export once more
      const settled = await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
      resetInstruments();
      for (const s of settled) if (s.status === 'rejected' && failures === 0) onFail(urls[0]!)(s.reason as Error);
      return failures;
    },
  };
}
