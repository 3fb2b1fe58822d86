/**
 * The native addon, loaded once through node-gyp-build, and its typed surface. This is the
 * only module that touches the addon; everything else imports the types from here.
 * @internal
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { WeightFileError } from './errors.js';

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
  /**
   * Detaches every buffer handed out, then unmaps (deferred while native work reads it).
   * Never throws; returns whether the mapping faulted (see faulted()).
   */
  close(): boolean;
  /**
   * Whether a SIGBUS inside this mapping was repaired with zero pages: the file shrank under a
   * read mapping, or the disk filled up under a write mapping. Sticky; also after close().
   */
  faulted(): boolean;
  /** Throws (code 'FILE_CHANGED' or 'NO_SPACE', `file` set) when faulted(); else does nothing. */
  checkIntact(): void;
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
/** How a linear layer's weight is stored: y = x W with W [in, out], or W [out, in] (torch nn.Linear). */
export type RegmeanLayout = 'in_out' | 'out_in';
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

export type NativeDeOptions = NativeRunOptions & {
  strategy: string; granularity: string; dtype: KernelDType; n: number; rowLength: number;
  F: number; CR: number; seed: bigint; stream: bigint; offset?: number;
  x: BufferLike; a?: BufferLike; b?: BufferLike; c?: BufferLike; out: BufferLike;
};

export interface NativeKernels {
  de(o: NativeDeOptions): Promise<void>;
  /** Several de() calls (CPU, same backend, threads and chunk) in one thread-pool pass. */
  deBatch(calls: readonly NativeDeOptions[]): Promise<void>;
  merge(o: NativeRunOptions & {
    kind: string; sparsify: string; inDtype: KernelDType; outDtype: KernelDType; n: number;
    inputs: BufferLike[]; weights: number[]; base?: BufferLike; out: BufferLike;
    lambda: number; density: number | readonly number[]; rescale: string; seed: bigint; tensorIndex: number; gamma?: number | readonly number[]; normalize?: boolean; t?: number; rowLength?: number; dellaEpsilon?: number | readonly number[]; ramEpsilon?: number; ramPlus?: boolean; ramR?: number; ramAlpha?: number;
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
    /** `label`: the file errors about the mapping name (a writer's final path; default `path`). */
    create(path: string, size: number, space: 'sparse' | 'check' | 'reserve', label?: string): NativeMappedFile;
    /**
     * A file in memory (memfd_create) of `size` bytes, mapped shared read-write. Its `path` is
     * /proc/self/fd/<fd> while it is open: openReadOnly(path) maps the same memory again.
     */
    createMemory(size: number, label: string): NativeMappedFile;
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
  /**
   * RegMean's linear algebra (Eigen, double precision, cpp/napi_regmean.cc). Matrices are
   * row-major; `dim` is the layer's input width, `cols` its output width; G~ = alpha G + (1 -
   * alpha) diag(G). regmeanFactor writes the Cholesky factor of sum G~_i (zero-diagonal features
   * pinned to 1 and listed); regmeanTerm writes G~ W; regmeanSolve sums the terms in order and
   * solves, writing W* in the tensor's layout and returning the relative residual.
   */
  regmeanFactor(o: { grams: Float32Array[]; alpha: number; dim: number; factor: Float64Array }): Promise<{ zeroRows: number[] }>;
  regmeanTerm(o: { gram: Float32Array; alpha: number; weight: Float32Array; layout: RegmeanLayout; dim: number; cols: number; term: Float64Array }): Promise<void>;
  regmeanSolve(o: { factor: Float64Array; terms: Float64Array[]; zeroRows: number[]; fallback: Float32Array; layout: RegmeanLayout; dim: number; cols: number; out: Float32Array }): Promise<{ residual: number }>;
  /** gram += xᵀx in double (x row-major [rows, cols] float32; the whole symmetric matrix is written). */
  gramAccumulate(o: { x: Float32Array; rows: number; cols: number; gram: Float64Array }): Promise<void>;
  /** STREAM-like copy / triad over double arrays: the best of `reps` runs. */
  stream(o: { kind: 'copy' | 'triad'; a: Float64Array; b: Float64Array; c: Float64Array; threads: number; reps: number }): Promise<{ seconds: number; bytes: number }>;
  /**
   * Atomically swaps two existing paths (Linux renameat2 RENAME_EXCHANGE). Throws an Error
   * whose `code` is the errno name ('ENOENT', 'EINVAL' where the file system does not
   * support it, 'EXDEV' across file systems, ...) and whose message names both paths.
   */
  exchangePaths(a: string, b: string): void;
  /**
   * XXH64 (seed 0) of every `chunkBytes` chunk of `buffer` (counted from its start; the last one
   * may be shorter), on the kernel thread pool: the digests do not depend on `threads`. Given
   * several buffers, each is chunked from its own start and the digests follow in buffer order
   * (one pool pass for all of them).
   */
  hashChunks(buffer: BufferLike | readonly BufferLike[], chunkBytes: number, threads: number): Promise<BigUint64Array>;
  /** XXH64 (seed 0) of a whole buffer, synchronously. */
  xxh64(buffer: BufferLike): bigint;
  /**
   * Zeroed native memory (an anonymous mapping) as an ArrayBuffer, at most 4 GiB. Kernels use
   * it in place (no copy, pinned while they run) like a mapped file; JS-heap buffers are worked
   * on as native copies instead. It cannot be transferred away (it is cloned).
   */
  allocate(bytes: number): ArrayBuffer;
  /** Counters: SIGBUS faults repaired, mappings protected, JS-heap buffers copied for native work. */
  nativeStats(): { sigbusRepaired: number; protectedMappings: number; bufferCopies: number; bufferCopyBytes: number };
}

const require = createRequire(import.meta.url);
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function load(): NativeAddon {
  // EVOLVER_NATIVE_ADDON=/path/to/evolver.node loads that binary instead (e.g. the
  // sanitizer build of `npm run test:asan`), leaving build/Release untouched.
  const override = process.env.EVOLVER_NATIVE_ADDON;
  if (override !== undefined && override !== '') return require(path.resolve(override)) as NativeAddon;
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

export const native: NativeAddon = typedFaults(load());

/**
 * A native call that used a mapping which faulted rejects with code 'FILE_CHANGED' or
 * 'NO_SPACE' and the file's path: surface it as a WeightFileError naming the file.
 */
function typedFaults(addon: NativeAddon): NativeAddon {
  const toTyped = (err: unknown): unknown => {
    const e = err as { code?: unknown; file?: unknown; message?: unknown; defect?: unknown };
    if ((e?.code === 'FILE_CHANGED' || e?.code === 'NO_SPACE') && typeof e.file === 'string') {
      return new WeightFileError(e.code, e.file, typeof e.defect === 'string' ? e.defect : String(e.message), { cause: err });
    }
    return err;
  };
  const wrap = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => fn(...args).catch((err: unknown) => Promise.reject(toTyped(err)));
  const k = addon.kernels;
  const kernels: NativeKernels = { ...k, de: wrap(k.de), deBatch: wrap(k.deBatch), merge: wrap(k.merge), convert: wrap(k.convert), slerp: wrap(k.slerp), reduce: wrap(k.reduce) };
  return { ...addon, kernels, hashChunks: wrap(addon.hashChunks), nll: wrap(addon.nll), stream: wrap(addon.stream), regmeanFactor: wrap(addon.regmeanFactor), regmeanTerm: wrap(addon.regmeanTerm), regmeanSolve: wrap(addon.regmeanSolve), gramAccumulate: wrap(addon.gramAccumulate) };
}

/** Atomically swaps two existing paths (renameat2 RENAME_EXCHANGE); see NativeAddon.exchangePaths. */
export function exchangePaths(a: string, b: string): void {
  native.exchangePaths(a, b);
}
