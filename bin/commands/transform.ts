/**
 * `cq-pipe transform <config…> [--transformer NAME]` or `cq-pipe transform ./module.js`: a stream
 * from stdin through one transformer to stdout (docs/pipes.md). The output format is the input's unless
 * `--format` says otherwise; control messages pass through (renamed tables keep their checkpoints).
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { UsageError } from '../../lib/errors.js';
import type { SyncMessage } from '../../lib/messages.js';
import { encodeMessage, type PipeMessage } from '../../lib/pipe/arrow-stream.js';
import { openPipeInput, type PipeFormat } from '../../lib/pipe/detect.js';
import { encodeNdjson } from '../../lib/pipe/ndjson-stream.js';
import { encodeSinger } from '../../lib/pipe/singer.js';
import { moduleTransformerSpec, openTransformer } from '../../transforms/index.js';
import { looksLikeModulePath } from '../../transforms/custom-module.js';
import type { TransformerSpec } from '../../lib/config/types.js';
import { makeLogger, reportError, type GlobalOptions, pickByName } from './common.js';
import { PIPE_FORMATS } from './read.js';

export interface TransformOptions extends GlobalOptions {
  transformer?: string;
  format?: string;
}

export async function transformCommand(
  args: string[],
  o: TransformOptions,
  input: AsyncIterable<Uint8Array> = process.stdin,
  out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Promise<number> {
  const logger = makeLogger(o);
  try {
    if (!args.length)
      throw new UsageError(
        'transform needs a config (with --transformer NAME) or a module path',
        'cq-pipe read cfg.yml | cq-pipe transform ./redact.js | cq-pipe write cfg.yml',
      );
    let spec: TransformerSpec;
    if (args.length === 1 && looksLikeModulePath(args[0]!) && !/\.ya?ml$/i.test(args[0]!)) {
      if (!existsSync(args[0]!)) throw new UsageError(`module ${args[0]} does not exist`);
      spec = moduleTransformerSpec(args[0]!);
    } else {
      const config = await loadConfig(args);
      for (const s of config.secrets) logger.addSecret(s);
      spec = pickByName(config.transformers, o.transformer, 'transformer');
    }
    const syncTime = new Date();
    const stage = await openTransformer(spec, { destination: 'stdout', logger, syncTime, invocationId: o['invocation-id'] ?? '' });
    const { format: inFormat, messages } = await openPipeInput(input);
    const format = (o.format ?? inFormat) as PipeFormat;
    if (!PIPE_FORMATS.includes(format)) throw new UsageError(`--format "${format}" is not one of ${PIPE_FORMATS.join(', ')}`);
    if (format === 'arrow' && out.isTTY)
      throw new UsageError('refusing to write a binary Arrow stream to a terminal', 'pipe it into cq-pipe write or cq-pipe inspect');
    const encode = format === 'arrow' ? encodeMessage : format === 'ndjson' ? encodeNdjson : encodeSinger;
    const emit = async (m: PipeMessage) => {
      const bytes = encode(m);
      if (bytes !== undefined && !out.write(bytes)) await once(out, 'drain');
    };
    // sync-start and sync-end frame the stream; the transformer sees the messages in between
    let ended = false;
    async function* inner(): AsyncGenerator<SyncMessage> {
      for await (const m of messages) {
        if (m.kind === 'sync-start') {
          await emit(m);
          continue;
        }
        if (m.kind === 'sync-end') {
          ended = true;
          continue;
        }
        yield m;
      }
    }
    for await (const m of stage(inner())) await emit(m);
    if (ended) await emit({ kind: 'sync-end' });
    return 0;
  } catch (err) {
    return reportError(err, logger);
  }
}
