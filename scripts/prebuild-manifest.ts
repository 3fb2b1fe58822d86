/**
 * prebuilds/MANIFEST.json: what the committed prebuilt addon was built from. `sources` is a
 * sha256 over binding.gyp, every file under cpp/ and the node-addon-api version; a test compares
 * it with the working tree, so a prebuild that no longer matches the C++ sources fails `npm test`
 * instead of shipping silently.
 *
 *   npx tsx scripts/prebuild-manifest.ts write     (scripts/prebuild.sh calls it after building)
 *   npx tsx scripts/prebuild-manifest.ts check     (exit 1 when stale)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MANIFEST = path.join(ROOT, 'prebuilds', 'MANIFEST.json');

export interface PrebuildManifest {
  /** sha256 of the inputs of the native build (see sourcesHash). */
  sources: string;
  nodeAddonApi: string;
  napiVersion: number;
  /** The compiler that built the binaries (`c++ --version`, first line). */
  compiler: string;
  /** prebuilds/<platform>-<arch>/<file> -> sha256 of the file. */
  files: Record<string, string>;
  /** How to rebuild them. */
  command: string;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export const sha256 = (bytes: Uint8Array | string) => crypto.createHash('sha256').update(bytes).digest('hex');

/** The inputs of the CPU addon's build: binding.gyp, cpp/** and the node-addon-api headers' version. */
export function sourcesHash(root = ROOT): string {
  const files = ['binding.gyp', ...listFiles(path.join(root, 'cpp')).map((f) => path.relative(root, f))]
    .map((f) => f.split(path.sep).join('/'))
    .sort();
  const h = crypto.createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(root, f)));
    h.update('\0');
  }
  h.update(`node-addon-api@${nodeAddonApiVersion(root)}`);
  return h.digest('hex');
}

export function nodeAddonApiVersion(root = ROOT): string {
  return (JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'node-addon-api', 'package.json'), 'utf8')) as { version: string }).version;
}

/** The .node files under prebuilds/, with their sha256. */
export function prebuiltFiles(root = ROOT): Record<string, string> {
  const dir = path.join(root, 'prebuilds');
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(
    listFiles(dir)
      .filter((f) => f.endsWith('.node'))
      .map((f) => [path.relative(dir, f).split(path.sep).join('/'), sha256(fs.readFileSync(f))] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

export function readManifest(root = ROOT): PrebuildManifest | undefined {
  const file = path.join(root, 'prebuilds', 'MANIFEST.json');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as PrebuildManifest) : undefined;
}

/** Why the prebuilds do not match the tree, or [] when they do. */
export function staleness(root = ROOT): string[] {
  const m = readManifest(root);
  if (m === undefined) return ['prebuilds/MANIFEST.json is missing'];
  const problems: string[] = [];
  if (m.sources !== sourcesHash(root)) problems.push('binding.gyp, cpp/ or node-addon-api changed since the prebuilt addon was built');
  const files = prebuiltFiles(root);
  for (const [f, h] of Object.entries(m.files)) if (files[f] !== h) problems.push(`prebuilds/${f} ${files[f] === undefined ? 'is missing' : 'differs from the one the manifest records'}`);
  for (const f of Object.keys(files)) if (!(f in m.files)) problems.push(`prebuilds/${f} is not in the manifest`);
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2];
  if (cmd === 'write') {
    const manifest: PrebuildManifest = {
      sources: sourcesHash(),
      nodeAddonApi: nodeAddonApiVersion(),
      napiVersion: 8,
      compiler: process.env.PREBUILD_COMPILER ?? 'unknown',
      files: prebuiltFiles(),
      command: 'npm run prebuildify',
    };
    fs.writeFileSync(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
    console.log(`wrote ${path.relative(process.cwd(), MANIFEST)}`);
  } else if (cmd === 'check') {
    const problems = staleness();
    for (const p of problems) console.error(`stale prebuild: ${p}`);
    if (problems.length > 0) {
      console.error('run `npm run prebuildify` (needs g++, make and python3) and commit prebuilds/');
      process.exit(1);
    }
    console.log('prebuilds match the sources');
  } else {
    console.error('usage: tsx scripts/prebuild-manifest.ts write|check');
    process.exit(64);
  }
}
