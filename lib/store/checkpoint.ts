/**
 * Checkpoints as one set of named tensors: a single .safetensors file, a Hugging Face folder
 * (model.safetensors, or model.safetensors.index.json with its shards), or a GGUF file (its
 * tensors under llama.cpp's names; quantized ones as raw bytes, carried, never evolved).
 */
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../errors.js';
import type { TensorArray } from './dtypes.js';
import type { AdviceHint } from '../native.js';
import { entryExists, resolveInside, statFollowing } from './paths.js';
import { CONVERT_HINT, isPickleName, refusePickle } from './refuse.js';
import { GgufFile, isGgufPath } from './gguf.js';
import { SafetensorsFile } from './safetensors.js';
import { type TensorMeta, type WeightSource, compareNames } from './source.js';

export const INDEX_NAME = 'model.safetensors.index.json';
export const SINGLE_NAME = 'model.safetensors';
/** A GGUF checkpoint folder's file: what evolve and merge write for GGUF inputs (write-gguf-like.ts). */
export const GGUF_NAME = 'model.gguf';

export type CheckpointFormat = 'safetensors' | 'sharded' | 'gguf';

/** A mapped file of tensors: safetensors, or GGUF (llama.cpp's format). */
export type TensorFile = SafetensorsFile | GgufFile;

interface Located {
  file: TensorFile;
  info: TensorMeta;
}

export class WeightSet implements WeightSource {
  /** The path that was opened (file or folder). */
  readonly path: string;
  readonly format: CheckpointFormat;
  /** The folder holding the files (for carrying config and tokenizer files over). */
  readonly folder: string;
  readonly files: readonly TensorFile[];
  readonly metadata: Readonly<Record<string, string>>;
  private readonly byName: Map<string, Located>;

  /** @internal */
  constructor(opened: string, format: CheckpointFormat, folder: string, files: TensorFile[], metadata: Record<string, string>) {
    this.path = opened;
    this.format = format;
    this.folder = folder;
    this.files = files;
    this.metadata = metadata;
    this.byName = new Map();
    for (const file of files) {
      const infos = file instanceof GgufFile ? file.names().map((n) => file.meta(n)) : file.tensors();
      for (const info of infos) this.byName.set(info.name, { file, info });
    }
  }

  names(): string[] {
    return [...this.byName.keys()].sort(compareNames);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  private locate(name: string): Located {
    const at = this.byName.get(name);
    if (at === undefined) throw new WeightFileError('TENSOR_NOT_FOUND', this.path, 'no such tensor in this checkpoint', { tensor: name });
    return at;
  }

  meta(name: string): TensorMeta {
    return this.locate(name).info;
  }

  /** The file holding the tensor. */
  fileOf(name: string): TensorFile {
    return this.locate(name).file;
  }

  bytes(name: string): Uint8Array {
    return this.locate(name).file.bytes(name);
  }

  chunks(name: string): Uint8Array[] {
    return this.locate(name).file.chunks(name);
  }

  view(name: string): TensorArray {
    return this.locate(name).file.view(name);
  }

  advise(name: string, hint: AdviceHint): void {
    this.locate(name).file.advise(name, hint);
  }

  /** Number of parameters (elements) over all tensors. */
  get parameters(): number {
    let n = 0;
    for (const { info } of this.byName.values()) n += info.elements;
    return n;
  }

  /** Bytes of tensor data over all tensors. */
  get dataBytes(): number {
    let n = 0;
    for (const { info } of this.byName.values()) n += info.byteLength;
    return n;
  }

  /** Whether any file of the set shrank (or could not be read) while mapped; see checkIntact(). */
  get faulted(): boolean {
    return this.files.some((f) => f.faulted);
  }

  /**
   * Throws WeightFileError FILE_CHANGED naming the file when a file of the set shrank (or a page
   * could not be read) while mapped: its missing pages read as zeros (the process survives the
   * SIGBUS), so an evaluation or checksum over the set since then is invalid. Call it after such
   * a pass, before trusting its result.
   */
  checkIntact(): void {
    for (const f of this.files) f.checkIntact();
  }

  close(): void {
    for (const f of this.files) f.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens a checkpoint: a .safetensors file, or a folder holding model.safetensors or
 * model.safetensors.index.json and its shards (or model.gguf), or a .gguf file. Every shard is
 * opened and checked now.
 */
export function openWeights(target: string): WeightSet {
  refusePickle(target);
  // Symlinks are followed (a hub-cache snapshot is a folder of links into ../../blobs); a
  // dangling link or a loop is reported as such.
  const stat = statFollowing(target);
  if (stat.isFile() && isGgufPath(target)) {
    // llama.cpp's format: its tensors under their GGUF names (token_embd.weight, blk.0.attn_q.weight, ...).
    const file = GgufFile.open(target);
    return new WeightSet(target, 'gguf', path.dirname(target), [file], { ...file.metadata });
  }
  if (stat.isFile()) {
    if (path.basename(target) === INDEX_NAME) return openSharded(path.dirname(target), target);
    const file = SafetensorsFile.open(target);
    return new WeightSet(target, 'safetensors', path.dirname(target), [file], { ...file.metadata });
  }
  if (!stat.isDirectory()) throw new WeightFileError('NOT_A_FILE', target, 'is neither a file nor a folder');
  const index = path.join(target, INDEX_NAME);
  if (entryExists(index)) {
    statFollowing(index);
    return openSharded(target, index);
  }
  const single = path.join(target, SINGLE_NAME);
  if (entryExists(single)) {
    statFollowing(single);
    const file = SafetensorsFile.open(single);
    return new WeightSet(target, 'safetensors', target, [file], { ...file.metadata });
  }
  const entries = fs.readdirSync(target);
  const safetensors = entries.filter((e) => e.endsWith('.safetensors'));
  if (safetensors.length === 1) {
    statFollowing(path.join(target, safetensors[0]!));
    const file = SafetensorsFile.open(path.join(target, safetensors[0]!));
    return new WeightSet(target, 'safetensors', target, [file], { ...file.metadata });
  }
  // A GGUF output folder (best/, a merge's OUT/): its model.gguf, when no safetensors is there.
  if (safetensors.length === 0 && entries.includes(GGUF_NAME)) {
    const file = GgufFile.open(path.join(target, GGUF_NAME));
    return new WeightSet(target, 'gguf', target, [file], { ...file.metadata });
  }
  const pickles = entries.filter(isPickleName);
  if (safetensors.length === 0 && pickles.length > 0) {
    throw new WeightFileError('PICKLE', target, `holds only pickled weights (${pickles.join(', ')}), which are never loaded; ${CONVERT_HINT}`);
  }
  const what = safetensors.length === 0 ? 'no .safetensors file' : `${safetensors.length} .safetensors files but no ${INDEX_NAME}`;
  throw new WeightFileError('NO_WEIGHTS', target, `holds ${what}; expected ${SINGLE_NAME} or ${INDEX_NAME}`);
}

function openSharded(folder: string, indexPath: string): WeightSet {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new WeightFileError('INDEX_INVALID', indexPath, `is not readable JSON (${(err as Error).message})`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new WeightFileError('INDEX_INVALID', indexPath, "has no 'weight_map' object");
  }
  const wanted = new Map<string, Set<string>>();  // shard -> tensors the index puts there
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string') throw new WeightFileError('INDEX_INVALID', indexPath, `weight_map value is ${JSON.stringify(shard)}, expected a shard file name`, { tensor });
    resolveInside(folder, shard, indexPath);
    let set = wanted.get(shard);
    if (set === undefined) wanted.set(shard, (set = new Set()));
    set.add(tensor);
  }
  if (wanted.size === 0) throw new WeightFileError('INDEX_INVALID', indexPath, "'weight_map' is empty");
  // A missing shard is reported now, not at first use. Symlinks in the folder are followed
  // (the index's names were checked lexically above); dangling links and loops say so.
  for (const shard of wanted.keys()) statFollowing(path.join(folder, shard), 'MISSING_SHARD', indexPath);
  const files: SafetensorsFile[] = [];
  const owner = new Map<string, string>();
  try {
    for (const [shard, tensors] of [...wanted.entries()].sort(([a], [b]) => compareNames(a, b))) {
      const file = SafetensorsFile.open(path.join(folder, shard));
      files.push(file);
      for (const name of file.names()) {
        const elsewhere = owner.get(name);
        if (elsewhere !== undefined) throw new WeightFileError('SHARD_MISMATCH', file.path, `is also in shard ${elsewhere}`, { tensor: name });
        owner.set(name, shard);
        if (!tensors.has(name)) {
          const listed = (weightMap as Record<string, string>)[name];
          throw new WeightFileError('SHARD_MISMATCH', file.path, listed === undefined ? `is not in ${INDEX_NAME}` : `is assigned to ${listed} by ${INDEX_NAME}`, { tensor: name });
        }
      }
      for (const name of tensors) {
        if (!file.has(name)) throw new WeightFileError('SHARD_MISMATCH', file.path, `is assigned to this shard by ${INDEX_NAME} but is not in it`, { tensor: name });
      }
    }
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
  const metadata = (index as { metadata?: Record<string, unknown> }).metadata ?? {};
  const stringMeta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) stringMeta[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return new WeightSet(folder, 'sharded', folder, files, stringMeta);
}
