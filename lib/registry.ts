/**
 * What the engine needs to turn config `path`s into code: sources, destinations, transformers and
 * state backends. The engine never imports connectors or transformers itself; the package entry
 * (index.ts) and the CLI inject the built-in registry (connectors/index.ts + transforms/index.ts),
 * and a library user can inject their own (docs/architecture.md).
 */
import type { DestinationConnector, SourceConnector } from './connector.js';
import type { TransformerDefinition } from './transformer.js';
import type { StateBackend } from './state/types.js';
import type { PkMode, WriteMode } from './messages.js';

/** A state backend kind, chosen by the scheme of `backend_options.connection`. */
export interface StateBackendProvider {
  /** e.g. ['postgres://', 'postgresql://'] */
  readonly schemes: readonly string[];
  open(connection: string, table: string): Promise<StateBackend>;
}

/** How a config names a plugin besides its `path` (CloudQuery's `registry` and `version`). */
export interface PluginRef {
  registry?: string;
  version?: string;
  /**
   * A destination's modes, set when the engine resolves it for a run (lib/destination-plan.ts passes
   * the destination's spec): a CloudQuery plugin destination receives them as the CloudQuery CLI's
   * schema spelling (docs/plugins.md).
   */
  write_mode?: WriteMode;
  pk_mode?: PkMode;
  /** the source's or destination's `otel_endpoint` (`host:port`): a spawned plugin gets `--otel-endpoint` (docs/observability.md) */
  otel_endpoint?: string;
  otel_endpoint_insecure?: boolean;
}

export interface Registry {
  /** built-in names, for suggestions and error hints */
  readonly names: {
    readonly source: readonly string[];
    readonly destination: readonly string[];
    readonly transformer: readonly string[];
    readonly stateScheme: readonly string[];
  };
  /**
   * A built-in name (also as `cloudquery/<name>`) or a module path; throws ConnectorNotFoundError,
   * or PluginUnavailableError for a CloudQuery plugin cq-pipe cannot provide.
   */
  source(path: string, baseDir: string, ref?: PluginRef): Promise<SourceConnector>;
  destination(path: string, baseDir: string, ref?: PluginRef): Promise<DestinationConnector>;
  /** a built-in name or a module path; throws ConfigError */
  transformer(path: string, baseDir: string): Promise<TransformerDefinition>;
  /** the backend serving this connection string's scheme, or undefined */
  stateBackend(connection: string): Promise<StateBackendProvider | undefined>;
}
