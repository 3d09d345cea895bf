/**
 * Download a plugin binary into the CloudQuery CLI's plugin cache, as the CLI does
 * (plugin-pb-go managedplugin/download.go; docs/plugins.md): from the CloudQuery Hub (`registry:
 * cloudquery`) or from a GitHub release (`registry: github`). A Hub download asks the API
 * (`CLOUDQUERY_API_URL`, default https://api.cloudquery.io, with `Authorization: Bearer
 * $CLOUDQUERY_API_KEY`) for the asset of this OS and architecture, fetches its zip next to the
 * binary (`plugin.zip`), checks the SHA-256 the API gives, and unpacks
 * `plugin-<name>-<version>-<os>-<arch>` with mode 0744. The binary appears under its final name
 * only once complete, so an interrupted download is never taken for a cached plugin.
 * Every failure is a HubDownloadError saying why in a sentence; the caller names the plugin.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { readZipEntry, ZipEntryError } from './zip-entry.js';

export const DEFAULT_HUB_URL = 'https://api.cloudquery.io';
export const DEFAULT_GITHUB_URL = 'https://github.com';

/** Why a download failed, in words for the end of "could not be downloaded: …". */
export class HubDownloadError extends Error {}

/** Go's names of this OS and architecture, as in the CLI's asset names (`linux_amd64`). */
export function goTarget(platform: string = process.platform, arch: string = process.arch): { os: string; arch: string } {
  const os = platform === 'win32' ? 'windows' : platform;
  const goArch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return { os, arch: goArch[arch] ?? arch };
}

export interface DownloadRequest {
  kind: 'source' | 'destination' | 'transformer';
  team: string;
  name: string;
  version: string;
  /** where the binary goes: `<cq-dir>/plugins/<kind>/<team>/<name>/<version>/plugin` */
  binary: string;
  logger: Logger;
}

async function get(url: string, headers: Record<string, string>, what: string): Promise<Response> {
  try {
    return await fetch(url, { headers, signal: AbortSignal.timeout(5 * 60_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new HubDownloadError(`${what} ${url} cannot be reached (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
}

/** `pathname` under a base URL that may itself have a path (a test server, a proxy). */
function under(base: string, pathname: string): string {
  return base.replace(/\/+$/, '') + pathname;
}

/** The zip at `url`, retried on 429 and 5xx as the CLI does (a few tries, 1 s apart). */
async function fetchZip(url: string, what: string): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    const res = await get(url, {}, what);
    if (res.ok) return Buffer.from(await res.arrayBuffer());
    const transient = res.status === 429 || res.status >= 500;
    if (!transient || attempt >= 3) throw new HubDownloadError(`${what} ${url} answered HTTP ${res.status}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Write the binary from `zip` atomically (temporary name, then rename), executable by its owner. */
async function install(req: DownloadRequest, zip: Buffer, entry: string): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = readZipEntry(zip, entry);
  } catch (err) {
    if (err instanceof ZipEntryError) throw new HubDownloadError(`the downloaded archive is unusable: ${err.message}`);
    throw err;
  }
  const tmp = `${req.binary}.${process.pid}.tmp`;
  await writeFile(tmp, bytes, { mode: 0o744 });
  await chmod(tmp, 0o744);
  await rename(tmp, req.binary).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

interface HubAsset {
  checksum?: string;
  location?: string;
}

/** Download from the CloudQuery Hub into `req.binary` (docs/plugins.md, "Plugin cache and Hub downloads"). */
export async function downloadFromHub(req: DownloadRequest, apiKey: string, apiUrl: string = DEFAULT_HUB_URL): Promise<void> {
  const { os, arch } = goTarget();
  const auth = { Authorization: `Bearer ${apiKey}`, Accept: 'application/json' };
  const plugin = `/plugins/${encodeURIComponent(req.team)}/${req.kind}/${encodeURIComponent(req.name)}/versions/${encodeURIComponent(req.version)}`;
  // the CLI first asks whether the version is packaged as a docker image
  const meta = await get(under(apiUrl, plugin), auth, 'the CloudQuery Hub API at');
  if (meta.ok) {
    const body = (await meta.json().catch(() => ({}))) as { package_type?: string };
    if (body.package_type === 'docker') {
      const image = `docker.cloudquery.io/${req.team}/${req.kind}-${req.name}:${req.version}`;
      throw new HubDownloadError(
        `this version is published as the docker image ${image}, which cq-pipe does not pull with Hub credentials; ` +
          `pull it (docker login docker.cloudquery.io) and use registry: docker, path: ${image}`,
      );
    }
  }
  const assetUrl = under(apiUrl, `${plugin}/assets/${os}_${arch}`);
  const res = await get(assetUrl, auth, 'the CloudQuery Hub API at');
  if (res.status === 401 || res.status === 403) {
    throw new HubDownloadError(`the Hub refused CLOUDQUERY_API_KEY (HTTP ${res.status}); create a valid API key in CloudQuery Cloud`);
  }
  if (res.status === 404) {
    throw new HubDownloadError(`the Hub has no ${req.kind} plugin ${req.team}/${req.name} version ${req.version} for ${os}_${arch} (HTTP 404)`);
  }
  if (res.status === 429) throw new HubDownloadError('the Hub answered HTTP 429 (too many download requests); try again later');
  if (!res.ok) throw new HubDownloadError(`the Hub answered HTTP ${res.status} for ${assetUrl}`);
  const asset = (await res.json().catch(() => undefined)) as HubAsset | undefined;
  if (!asset?.location) throw new HubDownloadError(`the Hub's answer for ${assetUrl} has no download location`);

  await mkdir(path.dirname(req.binary), { recursive: true });
  req.logger.info(`downloading ${req.kind} plugin ${req.team}/${req.name}@${req.version} (${os}_${arch})`, { url: asset.location.split('?')[0] });
  const zip = await fetchZip(asset.location, 'the plugin archive at');
  const sum = createHash('sha256').update(zip).digest('hex');
  if (!asset.checksum) req.logger.warn(`plugin ${req.team}/${req.name}@${req.version}: the Hub gave no checksum; not verified (sha256 ${sum})`);
  else if (sum !== asset.checksum.toLowerCase()) {
    throw new HubDownloadError(`the archive's SHA-256 is ${sum}, the Hub says ${asset.checksum}: the download is corrupt or was altered`);
  }
  await writeFile(`${req.binary}.zip`, zip);
  await install(req, zip, `plugin-${req.name}-${req.version}-${os}-${arch}`);
}

/**
 * Download a GitHub release of the plugin into `req.binary`: the CLI's release asset names, tried in
 * its order (`<team>/cq-<kind>-<name>`, then for team cloudquery the monorepo's `plugins-<kind>-<name>-<version>`).
 */
export async function downloadFromGithub(req: DownloadRequest, githubUrl: string = DEFAULT_GITHUB_URL): Promise<void> {
  const { os, arch } = goTarget();
  const exe = os === 'windows' ? '.exe' : '';
  const kind = req.kind === 'destination' ? 'destination' : 'source';
  const candidates = [
    {
      url: under(githubUrl, `/${req.team}/cq-${kind}-${req.name}/releases/download/${req.version}/cq-${kind}-${req.name}_${os}_${arch}.zip`),
      entry: `cq-${kind}-${req.name}${exe}`,
    },
  ];
  if (req.team === 'cloudquery') {
    candidates.push({
      url: under(githubUrl, `/cloudquery/cloudquery/releases/download/plugins-${kind}-${req.name}-${req.version}/${req.name}_${os}_${arch}.zip`),
      entry: `plugins/${kind}/${req.name}${exe}`,
    });
  }
  for (const c of candidates) {
    const res = await get(c.url, {}, 'GitHub at');
    if (res.status === 404) continue;
    if (!res.ok) throw new HubDownloadError(`GitHub answered HTTP ${res.status} for ${c.url}`);
    const zip = Buffer.from(await res.arrayBuffer());
    await mkdir(path.dirname(req.binary), { recursive: true });
    await writeFile(`${req.binary}.zip`, zip);
    await install(req, zip, c.entry);
    return;
  }
  throw new HubDownloadError(
    `no GitHub release of ${req.team}/${req.name} ${req.version} for ${os}_${arch} (tried ${candidates.map((c) => c.url).join(', ')})`,
  );
}
