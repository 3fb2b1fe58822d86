/**
 * GGUF outputs for GGUF inputs: a set of weights (an evolved member, a merge) written as a GGUF
 * file shaped like an input GGUF (the template) — its key/value pairs unchanged (architecture,
 * hyperparameters, tokenizer: what llama.cpp needs to load the file), its tensor order, and
 * each tensor's ggml type from the weights' dtype. Quantized tensors reach here as raw bytes
 * (dtype U8, shape [byteLength]; a safetensors member file loses the ggml type), so their type
 * and shape come back from the template, and their bytes are carried as they are.
 */
import path from 'node:path';

import { WeightFileError } from '../errors.js';
import { GGUF_NAME } from './checkpoint.js';
import { type GgufWriteOptions, type GgufWritePlan, type GgufTensorPlan, writeGguf } from './gguf-writer.js';
import type { GgufFile } from './gguf.js';
import { ggmlTypeOfDType } from './gguf-types.js';
import type { WeightSource } from './source.js';
import { type WrittenCheckpoint, copyCarriedFiles, openOutputFolder } from './write-checkpoint.js';

/**
 * The plan of `weights` written like `template`: the template's KV and tensor order. Every
 * template tensor must be in `weights` and nothing more (a GGUF's tensor set is what its
 * architecture expects); a carried quantized tensor must have the template's byte length.
 */
export function planLike(template: GgufFile, weights: WeightSource, file: string): GgufWritePlan {
  const wanted = template.headerNames();
  const have = new Set(weights.names());
  const extra = [...have].filter((n) => !template.has(n));
  if (extra.length > 0) throw new WeightFileError('SHARD_MISMATCH', file, `is not in the template GGUF ${template.path}, whose key/values describe its own tensors only`, { tensor: extra[0]! });
  const tensors = wanted.map((name): GgufTensorPlan => {
    if (!have.has(name)) throw new WeightFileError('TENSOR_NOT_FOUND', file, `is in the template GGUF ${template.path} but not in the weights to write`, { tensor: name });
    const t = template.info(name);
    const m = weights.meta(name);
    if (t.type.dtype === undefined) {
      // A quantized tensor: only ever carried, so its bytes must be the template's size.
      if (m.byteLength !== t.byteLength) throw new WeightFileError('SIZE_MISMATCH', file, `holds ${m.byteLength} bytes for a ${t.ggmlType} tensor of ${t.byteLength} bytes in ${template.path}`, { tensor: name });
      return { name, type: t.ggmlType, shape: t.shape };
    }
    const type = ggmlTypeOfDType(m.dtype);
    if (type === undefined) throw new WeightFileError('UNKNOWN_DTYPE', file, `${m.dtype} has no ggml type; a GGUF output holds F32, F16, BF16, integer or carried quantized tensors`, { tensor: name });
    return { name, type: type.name, shape: m.shape };
  });
  return { kv: template.kv, tensors };
}

/** Writes `weights` to the GGUF `file` like `template` (atomic: temp file, fsync, rename). */
export function writeLike(template: GgufFile, weights: WeightSource, file: string, options: GgufWriteOptions = {}): void {
  writeGguf(file, planLike(template, weights, file), (name) => weights.chunks(name), options);
}

export interface GgufCheckpointOptions {
  /** Replace weights already in the folder (default: refuse, OUTPUT_EXISTS). */
  overwrite?: boolean;
  /** Folder whose config and tokenizer files are copied next to model.gguf (harmless to llama.cpp). */
  copyFilesFrom?: string;
}

/**
 * A checkpoint folder holding model.gguf, put in place as writeCheckpoint puts a safetensors one
 * (temp sibling folder, then one atomic swap; previous weights replaced, other files kept).
 */
export function writeGgufCheckpoint(template: GgufFile, weights: WeightSource, folder: string, o: GgufCheckpointOptions = {}): WrittenCheckpoint {
  const out = openOutputFolder(folder, { overwrite: o.overwrite === true, existsHint: 'pass overwrite to replace them' });
  try {
    const plan = planLike(template, weights, path.join(out.dir, GGUF_NAME));
    writeGguf(path.join(out.dir, GGUF_NAME), plan, (name) => weights.chunks(name));
    if (o.copyFilesFrom !== undefined) copyCarriedFiles(o.copyFilesFrom, out.dir);
    out.commit();
    const totalSize = plan.tensors.reduce((a, t) => a + weights.meta(t.name).byteLength, 0);
    return { folder, shards: [GGUF_NAME], totalSize };
  } catch (err) {
    out.abort();
    throw out.retarget(err);
  }
}
