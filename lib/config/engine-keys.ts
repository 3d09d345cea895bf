/**
 * Keys of a destination's `spec` that the engine owns, not the connector: the batch caps
 * (docs/architecture.md, "engine keys"). They are injected into every destination's JSON schema
 * at load, parsed once into typed values on the loaded config, and removed from the spec the
 * connector receives, so no connector declares, sees or re-parses them.
 */
import type { SpecSchema } from '../connector.js';

/** batch caps: rows, in-memory Arrow bytes, and milliseconds, whichever is reached first */
export interface BatchCaps {
  rows: number;
  bytes: number;
  timeoutMs: number;
}

/** a number of seconds, or a Go duration as CloudQuery takes it: "60s", "500ms", "1m30s", "1.5h" */
const DURATION = /^(?:\d+(?:\.\d+)?|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** JSON-schema properties of the engine's destination keys (as CloudQuery's destination spec). */
export const ENGINE_DESTINATION_PROPERTIES = {
  batch_size: { type: 'integer', minimum: 0 },
  batch_size_bytes: { type: 'integer', minimum: 0 },
  batch_timeout: { type: ['string', 'integer'], pattern: DURATION.source },
} as const;

export const ENGINE_DESTINATION_KEYS = Object.keys(ENGINE_DESTINATION_PROPERTIES) as (keyof typeof ENGINE_DESTINATION_PROPERTIES)[];

/** A destination connector's schema with the engine's keys added to its properties. */
export function withEngineKeys(schema: SpecSchema): SpecSchema {
  const s = schema as { properties?: Record<string, unknown> };
  return { ...schema, properties: { ...(s.properties ?? {}), ...ENGINE_DESTINATION_PROPERTIES } };
}

/** Parse a Go duration ("60s", "500ms", "1m30s", "1h") or a number of seconds into milliseconds; undefined when malformed. */
export function durationMs(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  const s = v.trim();
  if (!DURATION.test(s)) return undefined;
  if (/^[\d.]+$/.test(s)) return Number(s) * 1000;
  let ms = 0;
  for (const m of s.matchAll(DURATION_PART)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/**
 * Split a destination spec (already validated with the engine keys) into the connector's own
 * spec and the engine's batch caps the user set.
 */
export function splitEngineKeys(spec: Record<string, unknown>): { spec: Record<string, unknown>; batch: Partial<BatchCaps> } {
  const own: Record<string, unknown> = {};
  const batch: Partial<BatchCaps> = {};
  for (const [k, v] of Object.entries(spec)) {
    if (k === 'batch_size' && typeof v === 'number') batch.rows = v;
    else if (k === 'batch_size_bytes' && typeof v === 'number') batch.bytes = v;
    else if (k === 'batch_timeout' && (typeof v === 'number' || typeof v === 'string')) {
      const ms = durationMs(v);
      if (ms !== undefined) batch.timeoutMs = ms;
    } else if (!(ENGINE_DESTINATION_KEYS as string[]).includes(k)) own[k] = v;
  }
  return { spec: own, batch };
}
