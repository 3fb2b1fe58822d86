/**
 * The native addon, loaded once through node-gyp-build, and its typed surface. This is the
 * only module that touches the addon; everything else imports the types from here.
 * @internal
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeMappedFile {
  readonly size: number;
  readonly writable: boolean;
  readonly closed: boolean;
  readonly path: string;
  /** An external ArrayBuffer over [offset, offset + length); at most 4 GiB. */
  region(offset: number, length: number): ArrayBuffer;
  advise(hint: AdviceHint, offset?: number, length?: number): void;
  /** msync + fsync (writable mappings only). */
  flush(): void;
  /** Detaches every buffer handed out, then unmaps (deferred while native work reads it). */
  close(): void;
  address(offset?: number): bigint;
}

export type AdviceHint = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed';

export interface NativeScanStats {
  count: number;
  nan: number;
  posInf: number;
  negInf: number;
  finite: number;
  min: number | null;
  max: number | null;
  sum: number;
  sumSquares: number;
}

export interface NativeBackend {
  name: 'scalar' | 'avx2' | 'avx512' | 'neon' | 'cuda';
  available: boolean;
  reason?: string;
  devices?: number;
  device?: string;
}

export interface NativeAddon {
  MappedFile: {
    openReadOnly(path: string): NativeMappedFile;
    create(path: string, size: number, preallocate: boolean): NativeMappedFile;
  };
  backends(): NativeBackend[];
  arch: string;
  scan(buffer: ArrayBufferView | ArrayBuffer, dtype: 'F32' | 'F16' | 'BF16' | 'F64'): Promise<NativeScanStats>;
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function load(): NativeAddon {
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    return nodeGypBuild(packageRoot) as NativeAddon;
  } catch (err) {
    throw new Error(
      `evolver: the native addon is not built (${(err as Error).message}). Run \`npm install\` (or \`npm run build:native\`) in ${packageRoot}.`,
      { cause: err },
    );
  }
}

export const native: NativeAddon = load();
