/**
 * `${ENV_VAR}` and `${file:./path}` in string values (docs/config.md), applied to parsed YAML values so
 * an interpolated value can never change the document's structure. `@@plugins.<name>.connection`
 * is resolved later, once every destination is known (see load.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { KeyPath } from './yaml-docs.js';
import { SECRET_KEY } from './schema.js';

const PATTERN = /\$\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface InterpolateProblem {
  keyPath: KeyPath;
  message: string;
  hint?: string;
}

export interface InterpolateResult {
  value: unknown;
  problems: InterpolateProblem[];
  /** interpolated values that must never be logged */
  secrets: string[];
}

export function interpolate(value: unknown, env: NodeJS.ProcessEnv, baseDir: string): InterpolateResult {
  const problems: InterpolateProblem[] = [];
  const secrets: string[] = [];
  const walk = (v: unknown, kp: KeyPath): unknown => {
    if (typeof v === 'string') return replace(v, kp);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...kp, i]));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, [...kp, k]);
      return out;
    }
    return v;
  };
  const replace = (s: string, kp: KeyPath): string => {
    if (!s.includes('${')) return s;
    const secretKey = kp.some((k) => typeof k === 'string' && SECRET_KEY.test(k));
    return s.replace(PATTERN, (whole, expr: string) => {
      if (expr.startsWith('file:')) {
        const rel = expr.slice(5).trim();
        const p = path.resolve(baseDir, rel);
        try {
          const text = fs.readFileSync(p, 'utf8').replace(/\r?\n$/, '');
          secrets.push(text);
          return text;
        } catch (err) {
          problems.push({
            keyPath: kp,
            message: `\${file:${rel}}: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
            hint: 'file paths are relative to the config file',
          });
          return whole;
        }
      }
      if (!ENV_NAME.test(expr)) {
        problems.push({ keyPath: kp, message: `"\${${expr}}" is not a valid reference`, hint: 'use ${ENV_VAR} or ${file:./path}' });
        return whole;
      }
      const v = env[expr];
      if (v === undefined) {
        problems.push({ keyPath: kp, message: `environment variable ${expr} is not set`, hint: `export ${expr}=… before running, or remove the reference` });
        return whole;
      }
      if (secretKey) secrets.push(v);
      return v;
    });
  };
  return { value: walk(value, []), problems, secrets };
}

/** `@@plugins.<name>.connection` references in a string */
export const PLUGIN_REF = /@@plugins\.([A-Za-z0-9_.-]+?)\.connection/g;
