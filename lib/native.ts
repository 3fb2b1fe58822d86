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
  /** The same, on a worker thread: the event loop keeps running. */
  flushAsync(): Promise<void>;
  /** Detaches every buffer handed out, then unmaps (deferred while native work reads it). */
  close(): void;
  address(offset?: number): bigint;
}

/** populate: map the range's pages now in one call (MADV_POPULATE_READ/WRITE) instead of one fault per page. */
export type AdviceHint = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed' | 'populate';

export interface NativeBackend {
  name: 'scalar' | 'avx2' | 'avx512' | 'neon' | 'cuda';
  available: boolean;
  reason?: string;
  devices?: number;
  device?: string;
}

export type KernelDType = 'F32' | 'F16' | 'BF16';
export interface NativeDeviceTensor {
  readonly bytes: number;
  upload(src: ArrayBufferView | ArrayBuffer): void;
  download(dst: ArrayBufferView | ArrayBuffer): void;
  free(): void;
}
export type BufferLike = ArrayBufferView | ArrayBuffer | NativeDeviceTensor;

export interface NativeRunOptions {
  /** 'cpu' (default) or 'cuda' (host buffers are staged; DeviceTensors run in place). */
  device?: 'cpu' | 'cuda';
  threads?: number;
  chunk?: number;
  /** The CPU kernel table: 'auto' (best for this CPU), 'scalar', 'avx2' or 'avx512'. */
  backend?: string;
}

export interface NativeKernels {
  de(o: NativeRunOptions & {
    strategy: string; granularity: string; dtype: KernelDType; n: number; rowLength: number;
    F: number; CR: number; seed: bigint; stream: bigint; offset?: number;
    x: BufferLike; a?: BufferLike; b?: BufferLike; c?: BufferLike; out: BufferLike;
  }): Promise<void>;
  merge(o: NativeRunOptions & {
    kind: string; sparsify: string; inDtype: KernelDType; outDtype: KernelDType; n: number;
    inputs: BufferLike[]; weights: number[]; base?: BufferLike; out: BufferLike;
    lambda: number; density: number; rescale: boolean; seed: bigint; tensorIndex: number; gamma?: number; normalize?: boolean;
    fisher?: BufferLike[]; fisherDtype?: KernelDType; epsilon?: number;
  }): Promise<void>;
  convert(o: NativeRunOptions & { inDtype: KernelDType; outDtype: KernelDType; n: number; src: BufferLike; out: BufferLike }): Promise<void>;
  slerp(o: NativeRunOptions & { inDtype: KernelDType; outDtype: KernelDType; n: number; t: number; x: BufferLike; y: BufferLike; out: BufferLike }): Promise<{ lerp: boolean; cosine: number; c0: number; c1: number }>;
  reduce(o: NativeRunOptions & { dtype: KernelDType; n: number; x: BufferLike; y?: BufferLike }): Promise<NativeReduceResult>;
  setThreads(n: number): void;
  getThreads(): number;
  tableName(name?: string): string | null;
  philox(o: { seed: bigint; stream: bigint; first: bigint | number; count: number }): Uint32Array;
  philoxBlock(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number): Uint32Array;
}

export interface NativeReduceResult {
  nan: number;
  posInf: number;
  negInf: number;
  finite: number;
  min: number | null;
  max: number | null;
  sum: number;
  sumSquares: number;
  dot?: number;
}

export interface NativeAddon {
  MappedFile: {
    openReadOnly(path: string): NativeMappedFile;
    create(path: string, size: number, space: 'sparse' | 'check' | 'reserve'): NativeMappedFile;
  };
  backends(): NativeBackend[];
  arch: string;
  kernels: NativeKernels;
  cuda: {
    DeviceTensor: new (bytes: number) => NativeDeviceTensor;
    status(): { available: boolean; reason?: string };
    /** Device-to-device copy bandwidth, GB/s (read + write). */
    copyBandwidth(bytes: number): number;
  };
  /** Token NLL from causal-LM logits [batch, seq, vocab]; position p < length-1 predicts ids[p+1]. */
  nll(o: { logits: Float32Array; ids: Int32Array; lengths: Int32Array; vocab: number }): Promise<{ sum: number; count: number; perSequence: Float64Array }>;
  /** STREAM-like copy / triad over double arrays: the best of `reps` runs. */
  stream(o: { kind: 'copy' | 'triad'; a: Float64Array; b: Float64Array; c: Float64Array; threads: number; reps: number }): Promise<{ seconds: number; bytes: number }>;
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
