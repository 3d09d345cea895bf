/**
 * Postgres connection strings (docs/postgresql.md, "Connection strings"), for the source, the
 * destination and the state backend alike: a `postgres://` / `postgresql://` URL or libpq's
 * keyword/value form (`host=… port=… dbname=… user=… sslmode=…`). The keyword/value form is
 * rewritten as the equivalent URL, which node-postgres (pg-connection-string) parses; `search_path`
 * (a run-time parameter, as pgx accepts it) becomes the session's `options=-c search_path=…` and
 * names the schema tables land in. Anything else — a `mysql://` URL, `host:port/db` — is a config
 * error naming the key.
 */
import type { SpecProblem } from '../../lib/connector.js';
import { didYouMean } from '../../lib/config/suggest.js';
import { ConfigError } from '../../lib/errors.js';

/** libpq's connection keywords (PostgreSQL 17, "Parameter Key Words"), plus pgx's `search_path` */
const KEYWORDS = new Set([
  'host',
  'hostaddr',
  'port',
  'dbname',
  'user',
  'password',
  'passfile',
  'require_auth',
  'channel_binding',
  'connect_timeout',
  'client_encoding',
  'options',
  'application_name',
  'fallback_application_name',
  'keepalives',
  'keepalives_idle',
  'keepalives_interval',
  'keepalives_count',
  'tcp_user_timeout',
  'replication',
  'gssencmode',
  'sslmode',
  'requiressl',
  'sslnegotiation',
  'sslcompression',
  'sslcert',
  'sslkey',
  'sslpassword',
  'sslcertmode',
  'sslrootcert',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'requirepeer',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'krbsrvname',
  'gsslib',
  'gssdelegation',
  'service',
  'target_session_attrs',
  'load_balance_hosts',
  'search_path',
]);

export interface PgConnection {
  /** a URL node-postgres parses (`connectionString` of pg.Client) */
  connectionString: string;
  /** the first schema of `search_path`, if the string sets one */
  schema?: string;
  /** host:port/database, for messages (no credentials) */
  where: string;
}

/** Does `s` look like libpq's keyword/value form (`host=…`)? Also used to route state backends. */
export function isKeywordValue(s: string): boolean {
  return /^\s*[A-Za-z_]+\s*=/.test(s);
}

const HINT = 'write a URL (postgres://user@host:5432/db?sslmode=disable) or keywords (host=… port=5432 dbname=… user=… sslmode=disable)';

/** libpq's keyword/value syntax: `key = value` pairs; a value is 'single-quoted' or a word, `\` escapes */
export function parseKeywordValue(s: string, keyPath: string, connector?: string): Map<string, string> {
  const out = new Map<string, string>();
  const fail = (what: string) => new ConfigError(what, { connector, keyPath }, HINT);
  let i = 0;
  const space = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  for (space(); i < s.length; space()) {
    const key = /^[A-Za-z_]+/.exec(s.slice(i))?.[0];
    if (!key) throw fail(`the connection string has no keyword at character ${i + 1}`);
    i += key.length;
    space();
    if (s[i] !== '=') throw fail(`the connection string has no "=" after "${key}"`);
    i++;
    space();
    let value = '';
    if (s[i] === "'") {
      for (i++; ; i++) {
        if (i >= s.length) throw fail(`the quoted value of "${key}" has no closing quote`);
        if (s[i] === '\\' && i + 1 < s.length) value += s[++i];
        else if (s[i] === "'") break;
        else value += s[i];
      }
      i++;
    } else {
      for (; i < s.length && !/\s/.test(s[i]!); i++) value += s[i] === '\\' && i + 1 < s.length ? s[++i] : s[i];
    }
    if (!KEYWORDS.has(key)) throw fail(`the connection string has "${key}", which is not a Postgres connection keyword${didYouMean(key, [...KEYWORDS])}`);
    out.set(key, value);
  }
  return out;
}

/** the schema names of a search_path value, unquoted, `$user` left out */
function searchPathSchemas(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim())
    .map((x) => (x.startsWith('"') && x.endsWith('"') && x.length >= 2 ? x.slice(1, -1).replace(/""/g, '"') : x))
    .filter((x) => x !== '' && x !== '$user');
}

/** `-c search_path=…` for the startup `options` (a space or backslash in it is escaped) */
function withSearchPath(options: string | null, searchPath: string): string {
  const c = `-c search_path=${searchPath.replace(/[\\\s]/g, (m) => `\\${m}`)}`;
  return options ? `${options} ${c}` : c;
}

/**
 * Check and normalise a connection string. `keyPath` names it in errors
 * (`spec.connection_string`, `spec.backend_options.connection`).
 */
export function pgConnection(s: string, keyPath: string, connector?: string): PgConnection {
  let url: URL;
  if (isKeywordValue(s)) {
    const kv = parseKeywordValue(s, keyPath, connector);
    url = new URL('postgres://');
    for (const [k, v] of kv) {
      if (k === 'dbname') url.pathname = `/${encodeURIComponent(v)}`;
      else url.searchParams.set(k, v);
    }
  } else {
    const scheme = /^([A-Za-z][\w+.-]*):/.exec(s)?.[1]?.toLowerCase();
    if (scheme !== 'postgres' && scheme !== 'postgresql') {
      const what = scheme ? `a ${scheme}:// URL` : 'neither a postgres:// URL nor keyword=value pairs';
      throw new ConfigError(`the connection string is ${what}; a Postgres connection string is expected`, { connector, keyPath }, HINT);
    }
    try {
      url = new URL(s);
    } catch {
      throw new ConfigError('the connection string is not a valid postgres:// URL', { connector, keyPath }, HINT);
    }
  }
  const searchPath = url.searchParams.get('search_path');
  if (searchPath !== null) {
    url.searchParams.delete('search_path');
    url.searchParams.set('options', withSearchPath(url.searchParams.get('options'), searchPath));
  }
  const host = url.searchParams.get('host') ?? (url.hostname || 'localhost');
  const port = url.searchParams.get('port') ?? (url.port || '5432');
  const database = decodeURIComponent(url.pathname.slice(1)) || url.searchParams.get('user') || decodeURIComponent(url.username);
  const schema = searchPath === null ? undefined : searchPathSchemas(searchPath)[0];
  return { connectionString: url.toString(), ...(schema ? { schema } : {}), where: `${host}:${port}/${database}` };
}

/** `pgConnection` as a connector's `validate` result (config load: exit 2 naming the key) */
export function connectionProblems(s: string, key: string): SpecProblem[] {
  try {
    pgConnection(s, `spec.${key}`);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [{ keyPath: [key], message: err.message, ...(err.hint ? { hint: err.hint } : {}) }];
  }
}
