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

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

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

/** Parse "60s", "500ms", "2m", "1h" or a number of seconds into milliseconds; undefined when malformed. */
export function durationMs(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  const m = DURATION.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
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
