/**
 * Hugging Face checkpoint (a .safetensors file or a folder, sharded or not, with config.json)
 * -> one GGUF file llama.cpp loads, driven by the architecture table (architectures.ts):
 * config.json is checked against the tensors (block count, every shape), each tensor is renamed,
 * rearranged (transpose / q-k permutation, exact bit moves) and converted to the output dtype by
 * the native kernel, and the file is written crash-safe (gguf-writer.ts).
 *
 * dtypes: matrices get --dtype (default: the dtype of the token embedding); 1-D tensors (norms,
 * biases) are always F32, as llama.cpp's converter writes them.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ExportError, WeightFileError, fromSystemError } from '../errors.js';
import { convert } from '../kernels/index.js';
import { openWeights, type WeightSet } from '../store/checkpoint.js';
import { type ComputeDType, dtypeBytes, isComputeDType } from '../store/dtypes.js';
import type { GgufKV } from '../store/gguf-header.js';
import { FILE_TYPE_OF } from '../store/gguf-types.js';
import { ggufWriterFor, kv, type GgufTensorPlan } from '../store/gguf-writer.js';
import { MAX_VIEW_BYTES } from '../store/safetensors.js';
import { type Architecture, type HParams, type Rearrange, type TensorRule, findArchitecture, knownArchitectures } from './architectures.js';
import { permuteRows, transpose, words } from './rearrange.js';
import { tokenizerKV } from './tokenizer.js';

export type ExportDType = 'f32' | 'f16' | 'bf16';

export interface ExportGgufOptions {
  /** Matrices' dtype (default: the token embedding's). */
  dtype?: ExportDType;
  /** config.json to use (default: the one in the model's folder). */
  config?: string;
  /** Replace an existing output file (default: refuse, OUTPUT_EXISTS). */
  overwrite?: boolean;
  space?: 'check' | 'reserve' | 'sparse';
}

export interface ExportGgufResult {
  file: string;
  architecture: string;
  tensors: number;
  dtype: ComputeDType;
  bytes: number;
  /** Where the vocabulary came from: the model's tokenizer.json, or the byte-level stand-in. */
  tokenizer: 'tokenizer.json' | 'byte-level';
}

/** One output tensor: where it comes from and what is done to it. */
export interface MappedTensor {
  hf: string;
  gguf: string;
  rearrange: Rearrange;
  /** Output shape, outermost first. */
  shape: number[];
  dtype: ComputeDType;
}

export async function exportGguf(model: string, out: string, options: ExportGgufOptions = {}): Promise<ExportGgufResult> {
  if (fs.existsSync(out) && options.overwrite !== true) {
    throw new WeightFileError('OUTPUT_EXISTS', out, 'already exists; choose another file or pass --force');
  }
  const set = openWeights(model);
  try {
    return await exportWeightSetGguf(set, out, { ...options, name: path.basename(path.resolve(model)).replace(/\.safetensors$/, '') });
  } finally {
    set.close();
  }
}

export interface ExportWeightSetOptions extends ExportGgufOptions {
  /** general.name (default: the set's file name). */
  name?: string;
  /** Where tokenizer.json is looked for (default: the set's folder; never next to `config`). */
  tokenizerFolder?: string;
  /**
   * `out` is a throwaway (an offspring llama.cpp loads once): rewritten in place with pwrite(),
   * not crash-safe (lib/store/scratch-writer.ts). Implies overwrite.
   */
  scratch?: boolean;
}

/**
 * The export of an already opened weight set: an offspring in memory (a memfd, whose folder is
 * /proc/self/fd) is exported straight from its mapping, with config.json and the tokenizer from
 * the population's folder, instead of being written out as safetensors first.
 */
export async function exportWeightSetGguf(set: WeightSet, out: string, options: ExportWeightSetOptions = {}): Promise<ExportGgufResult> {
  if (fs.existsSync(out) && options.overwrite !== true && options.scratch !== true) {
    throw new WeightFileError('OUTPUT_EXISTS', out, 'already exists; choose another file or pass --force');
  }
  const configFile = options.config ?? path.join(set.folder, 'config.json');
  const config = readConfig(configFile);
  const arch = findArchitecture(config);
  if (arch === undefined) {
    const said = JSON.stringify((config.architectures as unknown[] | undefined)?.[0] ?? config.model_type ?? null);
    throw new ExportError('UNKNOWN_ARCHITECTURE', `${configFile}: architecture ${said} cannot be exported to GGUF; known: ${knownArchitectures()}`);
  }
  const h = resolveHParams(arch, config, configFile);
  const mapped = mapTensors(arch, h, set, configFile, options.dtype);
  const matrixDtype = mapped.find((t) => t.shape.length >= 2)?.dtype ?? 'F32';
  // Tokenizer files are the model's: looked for next to the weights (never next to --config).
  const tokenizer = tokenizerKV({
    folder: options.tokenizerFolder ?? set.folder,
    vocabSize: h.vocab,
    bosId: optionalId(config.bos_token_id),
    eosId: optionalId(config.eos_token_id),
    bpePre: arch.bpePre,
  });
  const kvs: GgufKV[] = [
    kv('general.architecture', 'string', arch.name),
    kv('general.name', 'string', options.name ?? path.basename(set.path).replace(/\.safetensors$/, '')),
    kv('general.file_type', 'uint32', FILE_TYPE_OF[matrixDtype]),
    ...arch.kv.map(([key, type, value]) => kv(`${arch.name}.${key}`, type, value(h))),
    ...ropeScalingKV(arch, config, configFile),
    ...tokenizer.kv,
  ];
  try {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });  // like writeCheckpoint's output folder
  } catch (err) {
    throw fromSystemError(err, out, 'creating the output folder');
  }
  const plan = { kv: kvs, tensors: mapped.map((t): GgufTensorPlan => ({ name: t.gguf, type: t.dtype, shape: t.shape })) };
  const writer = ggufWriterFor(out, plan, { ...(options.space === undefined ? {} : { space: options.space }), scratch: options.scratch === true });
  try {
    for (const t of mapped) await writeTensor(set, t, h, writer.chunks(t.gguf, exportHooks.windowElements * dtypeBytes(t.dtype)));
    await writer.commitAsync();
  } catch (err) {
    writer.abort();
    throw err;
  }
  return {
    file: out,
    architecture: arch.name,
    tensors: mapped.length,
    dtype: matrixDtype,
    bytes: fs.statSync(out).size,
    tokenizer: tokenizer.source,
  };
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ExportError('BAD_CONFIG', `${file}: not found; a GGUF export needs the model's config.json (pass --config FILE)`);
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('not an object');
    return json as Record<string, unknown>;
  } catch (err) {
    throw new ExportError('BAD_CONFIG', `${file}: not a JSON object (${(err as Error).message})`);
  }
}

const optionalId = (v: unknown) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined);

/** Reads the table's hyper-parameters from config.json; every value checked. */
export function resolveHParams(arch: Architecture, config: Record<string, unknown>, file: string): HParams {
  const h: Partial<HParams> = {};
  for (const rule of arch.hparams) {
    const key = rule.keys.find((k) => config[k] !== undefined && config[k] !== null);
    const value = key !== undefined ? config[key] : rule.fallback?.(h);
    if (value === undefined) throw new ExportError('BAD_CONFIG', `${file}: has no ${rule.keys.map((k) => `'${k}'`).join(' or ')} (needed for ${arch.name})`);
    const ok = rule.kind === 'int' ? Number.isSafeInteger(value) && (value as number) > 0 : typeof value === 'number' && Number.isFinite(value) && value >= 0;
    if (!ok) {
      const what = key === undefined ? `the ${rule.name} derived from it (${String(value)})` : `'${key}' = ${JSON.stringify(value)}`;
      throw new ExportError('BAD_CONFIG', `${file}: ${what} is not a ${rule.kind === 'int' ? 'positive integer' : 'non-negative number'}`);
    }
    h[rule.name] = value as number;
  }
  const full = h as HParams;
  if (full.heads % full.kvHeads !== 0) throw new ExportError('BAD_CONFIG', `${file}: ${full.heads} attention heads are not a multiple of ${full.kvHeads} key/value heads`);
  return full;
}

function ropeScalingKV(arch: Architecture, config: Record<string, unknown>, file: string): GgufKV[] {
  const s = config.rope_scaling as { type?: unknown; rope_type?: unknown; factor?: unknown } | null | undefined;
  if (s === undefined || s === null) return [];
  const type = s.rope_type ?? s.type;
  if (type === 'linear' && typeof s.factor === 'number') {
    return [kv(`${arch.name}.rope.scaling.type`, 'string', 'linear'), kv(`${arch.name}.rope.scaling.factor`, 'float32', s.factor)];
  }
  throw new ExportError('BAD_CONFIG', `${file}: rope_scaling of type ${JSON.stringify(type)} is not supported by the GGUF export (none and linear are)`);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ruleRegex = (r: TensorRule) => new RegExp(`^${escape(r.hf).replace(escape('{i}'), '(\\d+)')}$`);

/**
 * Matches every tensor of the checkpoint to a rule of the table and checks it against
 * config.json: unknown tensors, missing ones, a block count or a shape that disagrees are errors.
 */
export function mapTensors(arch: Architecture, h: HParams, set: WeightSet, configFile: string, dtype?: ExportDType): MappedTensor[] {
  const regexes = arch.tensors.map(ruleRegex);
  const found = new Map<string, string>();  // `${rule index}/${block}` -> HF name
  const blocks = new Set<number>();
  const unmapped: string[] = [];
  for (const name of set.names()) {
    const i = regexes.findIndex((re) => re.test(name));
    if (i < 0) {
      if (!arch.ignore.some((re) => re.test(name))) unmapped.push(name);
      continue;
    }
    const block = regexes[i]!.exec(name)![1];
    if (block !== undefined) blocks.add(Number(block));
    found.set(`${i}/${block ?? ''}`, name);
  }
  if (unmapped.length > 0) {
    throw new ExportError('UNMAPPED_TENSOR', `${set.path}: ${unmapped.length} tensor(s) have no place in a ${arch.name} GGUF: ${unmapped.slice(0, 5).join(', ')}${unmapped.length > 5 ? ', ...' : ''}`);
  }
  const layersKey = arch.hparams.find((r) => r.name === 'layers')!.keys[0]!;
  const sorted = [...blocks].sort((a, b) => a - b);
  if (sorted.length !== h.layers || sorted.some((b, i) => b !== i)) {
    throw new ExportError('CONFIG_MISMATCH', `${configFile}: '${layersKey}' is ${h.layers} but ${set.path} holds ${sorted.length} blocks (${describeBlocks(sorted)})`);
  }
  const matrices: ComputeDType | undefined = dtype === undefined ? undefined : (dtype.toUpperCase() as ComputeDType);
  const out: MappedTensor[] = [];
  const emit = (rule: TensorRule, index: number, block: number | undefined) => {
    const hf = found.get(`${index}/${block ?? ''}`);
    const inst = (s: string) => (block === undefined ? s : s.replace('{i}', String(block)));
    if (hf === undefined) {
      if (rule.optional === true) return;
      throw new ExportError('MISSING_TENSOR', `${set.path}: has no tensor '${inst(rule.hf)}', which a ${arch.name} model needs`);
    }
    const meta = set.meta(hf);
    if (!isComputeDType(meta.dtype)) throw new WeightFileError('UNKNOWN_DTYPE', set.path, `${meta.dtype} cannot be exported to GGUF (F32, F16 and BF16 can)`, { tensor: hf });
    const expected = rule.shape(h);
    if (expected.length !== meta.shape.length || expected.some((d, k) => d !== meta.shape[k])) {
      throw new ExportError('CONFIG_MISMATCH', `${set.path}: tensor '${hf}' is [${meta.shape.join(', ')}] but ${configFile} (${rule.from}) implies [${expected.join(', ')}]`);
    }
    const rearrange = rule.rearrange ?? 'none';
    const shape = rearrange === 'transpose' ? [meta.shape[1]!, meta.shape[0]!] : [...meta.shape];
    // The default matrix dtype is the token embedding's (rule 0 of every table).
    const embedding = set.meta(found.get('0/') ?? hf).dtype as ComputeDType;
    out.push({ hf, gguf: inst(rule.gguf), rearrange, shape, dtype: shape.length < 2 ? 'F32' : matrices ?? embedding });
  };
  // Tensors before the blocks in the table, then block by block, then the rest (token_embd first, output last).
  const firstBlockRule = arch.tensors.findIndex((r) => r.hf.includes('{i}'));
  arch.tensors.forEach((r, i) => { if (!r.hf.includes('{i}') && i < firstBlockRule) emit(r, i, undefined); });
  for (let b = 0; b < h.layers; b++) arch.tensors.forEach((r, i) => { if (r.hf.includes('{i}')) emit(r, i, b); });
  arch.tensors.forEach((r, i) => { if (!r.hf.includes('{i}') && i > firstBlockRule) emit(r, i, undefined); });
  return out;
}

function describeBlocks(b: number[]): string {
  if (b.length === 0) return 'none';
  return b.length <= 6 ? b.join(', ') : `${b.slice(0, 3).join(', ')}, ..., ${b.slice(-2).join(', ')}`;
}

/**
 * Elements per output view (one kernel call each): bounded so a tensor over 4 GiB converts in
 * pieces. A test seam: tests make it small to exercise the windows on small tensors.
 */
export const exportHooks = { windowElements: 2 ** 26 };

/** Copies one tensor into its place in the output: rearranged, then converted. */
async function writeTensor(set: WeightSet, t: MappedTensor, h: HParams, dst: Uint8Array[]): Promise<void> {
  const meta = set.meta(t.hf);
  const inDtype = meta.dtype as ComputeDType;
  if (meta.byteLength === 0) return;
  let src: Uint8Array[];
  if (t.rearrange === 'none') {
    src = set.chunks(t.hf);
  } else {
    if (meta.byteLength > MAX_VIEW_BYTES) throw new WeightFileError('TENSOR_TOO_LARGE', set.path, 'is over 4 GiB, too large to rearrange for GGUF', { tensor: t.hf });
    const elementBytes = dtypeBytes(inDtype);
    // Same dtype, one aligned output view: rearranged straight into the file, no copy between.
    const direct = inDtype === t.dtype && dst.length === 1 && dst[0]!.byteOffset % elementBytes === 0 ? words(dst[0]!, elementBytes) : undefined;
    const out = rearranged(set.bytes(t.hf), elementBytes, meta.shape, t.rearrange, h, direct);
    if (direct !== undefined) return;
    src = [out];
  }
  if (inDtype === t.dtype) {
    copyInto(src, dst);
    return;
  }
  // Window by window (each dst chunk is one window): the native kernel converts with RNE.
  const inBytes = dtypeBytes(inDtype);
  let at = 0;
  for (const out of dst) {
    const n = out.byteLength / dtypeBytes(t.dtype);
    await convert({ src: slice(src, at * inBytes, n * inBytes), inDtype, out, outDtype: t.dtype });
    at += n;
  }
}

/** The rearranged tensor, written into `into` when given (then it is returned as bytes too). */
function rearranged(bytes: Uint8Array, elementBytes: number, shape: readonly number[], how: Rearrange, h: HParams, into?: Uint16Array | Uint32Array): Uint8Array {
  const w = words(bytes, elementBytes);
  const rows = shape[0]!;
  const rowLength = shape.length > 1 ? shape[1]! : 1;
  const out = how === 'transpose' ? transpose(w, rows, rowLength, into)
    : how === 'permute-q' ? permuteRows(w, rows, rowLength, h.heads, into)
      : permuteRows(w, rows, rowLength, h.kvHeads, into);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Bytes [from, from + length) of a tensor given in pieces: a view when inside one piece, else a copy. */
function slice(pieces: readonly Uint8Array[], from: number, length: number): Uint8Array {
  let base = 0;
  for (const p of pieces) {
    if (from >= base && from + length <= base + p.byteLength) return p.subarray(from - base, from - base + length);
    base += p.byteLength;
  }
  const out = new Uint8Array(length);
  base = 0;
  for (const p of pieces) {
    const lo = Math.max(from, base);
    const hi = Math.min(from + length, base + p.byteLength);
    if (lo < hi) out.set(p.subarray(lo - base, hi - base), lo - from);
    base += p.byteLength;
  }
  return out;
}

function copyInto(src: readonly Uint8Array[], dst: readonly Uint8Array[]): void {
  let at = 0;
  for (const d of dst) {
    d.set(slice(src, at, d.byteLength));
    at += d.byteLength;
  }
}
