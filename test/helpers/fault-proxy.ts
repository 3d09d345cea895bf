/**
 * A fault-injecting HTTP proxy for S3 tests: a node:http server on 127.0.0.1 (free port) that
 * forwards every request — method, path, headers (Host unchanged, so a SigV4 signature made for
 * the proxy's address stays valid) and streamed body — to `target` (s3rver) and streams the answer
 * back, except where an injected rule says otherwise:
 *
 *   500 / 503        answer 500 InternalError or 503 SlowDown with an S3 XML error body; not forwarded
 *   drop             read the request, then destroy the client socket; not forwarded
 *   drop-after       forward it (the server acts on it), read the whole answer, then destroy the
 *                    client socket without answering: the client cannot tell whether it happened
 *   { cutAfter: K }  forward it, send the status, headers and the first K body bytes, then destroy
 *                    (a body of K bytes or less is passed whole)
 *   { delay: ms }    forward it after `ms`
 *
 * A rule fires on its first `times` matching requests (default 1), or on every `every`-th one, or
 * with probability `chance` from a seeded PRNG (deterministic); `skip` ignores the first matches.
 * Every request and every fault injected is recorded, so tests assert how many faults really hit.
 */
import http from 'node:http';

export type S3Op =
  | 'ListObjectsV2'
  | 'HeadBucket'
  | 'GetObject'
  | 'HeadObject'
  | 'PutObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'DeleteObject'
  | 'Other';

export interface ProxiedRequest {
  n: number;
  method: string;
  url: string;
  op: S3Op;
  bucket: string;
  key: string;
  part?: number;
  uploadId?: string;
  range?: string;
  /** the fault injected, if any */
  fault?: string;
  /** the status the client got (undefined: the connection was dropped before an answer) */
  status?: number;
}
export type Fault = 500 | 503 | 'drop' | 'drop-after' | { cutAfter: number } | { delay: number };

export interface FaultRule {
  op?: S3Op | S3Op[];
  bucket?: string;
  /** object key, exact or a pattern */
  key?: string | RegExp;
  part?: number;
  match?: (r: ProxiedRequest) => boolean;
  fault: Fault;
  times?: number;
  every?: number;
  chance?: { p: number; seed: number };
  skip?: number;
}
/** a rule as injected: how many requests it matched and how many faults it fired */
export interface ActiveRule extends FaultRule {
  matched: number;
  fired: number;
}
export interface InjectedFault {
  rule: number;
  fault: string;
  op: S3Op;
  method: string;
  url: string;
}

export function faultName(f: Fault): string {
  return typeof f === 'number' ? String(f) : typeof f === 'string' ? f : 'cutAfter' in f ? `cut-after-${f.cutAfter}` : `delay-${f.delay}`;
}

/** The S3 operation of a path-style request. */
export function s3Op(method: string, url: string): Pick<ProxiedRequest, 'op' | 'bucket' | 'key' | 'part' | 'uploadId'> {
  const u = new URL(url, 'http://x');
  const [, bucket = '', ...rest] = u.pathname.split('/');
  const key = decodeURIComponent(rest.join('/'));
  const q = u.searchParams;
  const uploadId = q.get('uploadId') ?? undefined;
  const part = q.has('partNumber') ? Number(q.get('partNumber')) : undefined;
  const op: S3Op = !key
    ? method === 'GET' && q.get('list-type') === '2'
      ? 'ListObjectsV2'
      : method === 'HEAD'
        ? 'HeadBucket'
        : 'Other'
    : method === 'GET'
      ? 'GetObject'
      : method === 'HEAD'
        ? 'HeadObject'
        : method === 'PUT'
          ? uploadId
            ? 'UploadPart'
            : 'PutObject'
          : method === 'POST'
            ? q.has('uploads')
              ? 'CreateMultipartUpload'
              : uploadId
                ? 'CompleteMultipartUpload'
                : 'Other'
            : method === 'DELETE'
              ? uploadId
                ? 'AbortMultipartUpload'
                : 'DeleteObject'
              : 'Other';
  return { op, bucket, key, ...(part !== undefined ? { part } : {}), ...(uploadId ? { uploadId } : {}) };
}

/** mulberry32 (exported so tests can replay a `chance` rule) */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const S3_ERRORS: Record<number, [string, string]> = {
  500: ['InternalError', 'We encountered an internal error. Please try again.'],
  503: ['SlowDown', 'Please reduce your request rate.'],
};

export interface FaultProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  faults: InjectedFault[];
  inject(rule: FaultRule): ActiveRule;
  clear(): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const to = new URL(target);
  const requests: ProxiedRequest[] = [];
  const faults: InjectedFault[] = [];
  const rules: { rule: ActiveRule; id: number; rand?: () => number }[] = [];
  let ids = 0;

  /** every matching rule counts the request; the first one that decides to fire injects its fault */
  function pick(r: ProxiedRequest): { id: number; fault: Fault } | undefined {
    let chosen: { id: number; fault: Fault; rule: ActiveRule } | undefined;
    for (const { rule, id, rand } of rules) {
      const ops = rule.op === undefined ? undefined : ([] as S3Op[]).concat(rule.op);
      if (ops && !ops.includes(r.op)) continue;
      if (rule.bucket !== undefined && rule.bucket !== r.bucket) continue;
      if (rule.key !== undefined && !(typeof rule.key === 'string' ? rule.key === r.key : rule.key.test(r.key))) continue;
      if (rule.part !== undefined && rule.part !== r.part) continue;
      if (rule.match && !rule.match(r)) continue;
      const k = ++rule.matched - (rule.skip ?? 0);
      const limit = rule.times ?? (rule.every || rule.chance ? Infinity : 1);
      if (chosen || k <= 0 || rule.fired >= limit) continue;
      if (rule.every ? k % rule.every === 0 : rand ? rand() < rule.chance!.p : true) chosen = { id, fault: rule.fault, rule };
    }
    if (chosen) chosen.rule.fired++;
    return chosen;
  }

  /** forward the request (Host header included, unchanged); `answer` gets the upstream response */
  function forward(req: http.IncomingMessage, res: http.ServerResponse, answer: (up: http.IncomingMessage) => void): void {
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, answer);
    up.on('error', () => req.socket.destroy());
    res.on('close', () => up.destroy()); // the client went away (or the exchange is over)
    req.pipe(up);
  }

  const server = http.createServer((req, res) => {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const r: ProxiedRequest = { n: requests.length + 1, method, url, ...s3Op(method, url), ...(req.headers.range ? { range: req.headers.range } : {}) };
    requests.push(r);
    const chosen = pick(r);
    const fault = chosen?.fault;
    if (chosen) {
      r.fault = faultName(chosen.fault);
      faults.push({ rule: chosen.id, fault: r.fault, op: r.op, method, url });
    }
    const drop = () => req.socket.destroy();
    if (fault === 500 || fault === 503) {
      const [code, message] = S3_ERRORS[fault]!;
      const body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
        `<Resource>${r.bucket}/${r.key}</Resource><RequestId>fault-proxy-${r.n}</RequestId></Error>`;
      r.status = fault;
      req.resume().on('end', () => res.writeHead(fault, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) }).end(body));
    } else if (fault === 'drop') {
      req.resume().on('end', drop);
    } else if (fault === 'drop-after') {
      forward(req, res, (up) => up.resume().on('end', drop));
    } else if (typeof fault === 'object' && 'cutAfter' in fault) {
      forward(req, res, (up) => {
        r.status = up.statusCode;
        res.writeHead(up.statusCode ?? 502, up.headers);
        let left = fault.cutAfter;
        up.on('error', drop);
        if (left <= 0) {
          up.destroy();
          res.flushHeaders();
          return void setImmediate(drop);
        }
        up.on('data', (chunk: Buffer) => {
          if (left <= 0) return;
          const last = chunk.byteLength >= left;
          // the socket is destroyed once the first K bytes are handed to the kernel
          res.write(
            chunk.subarray(0, left),
            last
              ? () => {
                  up.destroy();
                  drop();
                }
              : undefined,
          );
          left -= chunk.byteLength;
        });
        up.on('end', () => {
          if (left > 0) res.end();
        });
      });
    } else {
      const pass = () =>
        forward(req, res, (up) => {
          r.status = up.statusCode;
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
      if (typeof fault === 'object') setTimeout(pass, fault.delay);
      else pass();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    faults,
    inject(rule) {
      const active: ActiveRule = { ...rule, matched: 0, fired: 0 };
      rules.push({ rule: active, id: ++ids, ...(rule.chance ? { rand: prng(rule.chance.seed) } : {}) });
      return active;
    },
    clear() {
      rules.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
