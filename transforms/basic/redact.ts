/** CloudQuery's redaction markers, as `obfuscate_columns` writes them (docs/transformers.md). */
import { createHash } from 'node:crypto';

export const REDACTED = 'Redacted by CloudQuery';
const REDACTED_PREFIX = 'Redacted by CloudQuery | ';
export const REDACTED_JSON_KEY = 'redacted_by_cloudquery';
/** table metadata: the JSON array of column names `obfuscate_sensitive_columns` redacts */
export const MD_SENSITIVE_COLUMNS = 'cq:table_sensitive_columns';

export function sha256hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** CloudQuery's redaction marker for a raw value. */
export function redactValue(raw: Uint8Array | string, includeSha: boolean): string {
  return includeSha ? REDACTED_PREFIX + sha256hex(raw) : REDACTED;
}
