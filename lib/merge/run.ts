/**
 * Runs a merge config: streams tensor by tensor from the mapped inputs into mapped output
 * shards (memory stays flat whatever the model size), writes the index and carries the config
 * and tokenizer files of the base (or first) model. The output folder appears complete or not
 * at all (written into a temp sibling, then swapped in atomically).
 */
import fs from 'node:fs';
import path from 'node:path';

import * as k from '../kernels/index.js';
import { EvolverArgumentError } from '../errors.js';
import type { KernelDType } from '../native.js';
import { GGUF_NAME, INDEX_NAME, SINGLE_NAME, type WeightSet, openWeights } from '../store/checkpoint.js';
import type { GgufFile } from '../store/gguf.js';
import { writeLike } from '../store/write-gguf-like.js';
import { dtypeBytes } from '../store/dtypes.js';
import type { TensorMeta } from '../store/source.js';
import { type OutputFolder, copyCarriedFiles, openOutputFolder, planShards, shardName, writeFileAtomic } from '../store/write-checkpoint.js';
import { SafetensorsWriter } from '../store/writer.js';
import { carryModelFiles, carryTokenizer } from '../store/carried-files.js';
import { type MergeConfig, resolveParam } from './config.js';
import type { TensorJob } from './methods.js';
import { fisherViews } from './fisher-files.js';
import { RegmeanError, layerGrams } from './regmean.js';
import { type TensorCompute, type TensorRef, planModels } from './plan.js';
import { planSlices, setLayerCount } from './slice-plan.js';

export interface MergeRunOptions {
  /** Seed of DARE's random masks (Philox stream i * 2^20 + j). */
  seed?: number;
  maxShardBytes?: number;
  overwrite?: boolean;
  onTensor?: (e: { name: string; index: number; total: number; bytes: number }) => void;
}

export interface MergeRunResult {
  folder: string;
  shards: string[];
  tensors: number;
  computed: number;
  bytesRead: number;
  bytesWritten: number;
  seconds: number;
  /** Of which: flushing the output to disk (msync + fsync at each shard's commit). */
  flushSeconds: number;
}

export async function runMerge(config: MergeConfig, outDir: string, o: MergeRunOptions = {}): Promise<MergeRunResult> {
  const t0 = performance.now();
  const opened: WeightSet[] = [];
  let out: OutputFolder | undefined;
  const open = (p: string) => {
    const w = openWeights(p);
    opened.push(w);
    return w;
  };
  try {
    // Per-model statistics files (fisher: diagonal Fisher; regmean: Gram matrices), in model order.
    const statsParam = config.method.params.find((p) => p.path)?.name;
    const stats = statsParam === undefined ? undefined : config.models.filter((m) => m.model !== config.baseModel).map((m) => open(String(m.parameters[statsParam])));
    const planned = config.slices !== undefined ? planSlices(config, open) : planModels(config, open);
    const ref = planned.carryFrom;
    const names = planned.tensors.map((t) => t.name);
    const byName = new Map(planned.tensors.map((t) => [t.name, t]));
    const computed = new Set(planned.tensors.filter((t) => t.compute !== undefined).map((t) => t.name));
    const jIndex = new Map([...computed].map((n, j) => [n, j]));
    const outMeta = (name: string): TensorMeta => {
      const t = byName.get(name)!;
      const meta = { ...t.ref.set.meta(t.ref.name), name };
      if (!computed.has(name)) return meta;
      const dtype = config.outDtype ?? (meta.dtype as KernelDType);
      return { ...meta, dtype, byteLength: meta.elements * dtypeBytes(dtype) };
    };
    const source = { names: () => names, meta: outMeta, chunks: () => [], metadata: {} };
    const groups = planShards(source, o.maxShardBytes ?? 5_000_000_000);
    const shardNames = groups.length === 1 ? [SINGLE_NAME] : groups.map((_, i) => shardName(i, groups.length));
    // The output appears complete or not at all: written into a temp sibling, swapped in at the
    // end (see openOutputFolder); a failure (full disk...) leaves no partial shards behind.
    out = openOutputFolder(outDir, { overwrite: o.overwrite === true, existsHint: 'choose an empty folder' });
    const tempDir = out.dir;

    let index = 0, bytesRead = 0, bytesWritten = 0, flushSeconds = 0;
    const weightMap: Record<string, string> = {};
    for (const [g, group] of groups.entries()) {
      const writer = SafetensorsWriter.create(path.join(tempDir, shardNames[g]!), {
        tensors: group.map(outMeta),
        metadata: { format: 'pt', merge_method: config.method.name, ...(o.seed !== undefined ? { seed: String(o.seed) } : {}) },
      });
      try {
        for (const [gi, name] of group.entries()) {
          weightMap[name] = shardNames[g]!;
          // Start reading the next tensor from disk while this one is computed (async readahead).
          const next = byName.get(group[gi + 1] ?? '')?.compute;
          if (next !== undefined) for (const r of next.base ? [...next.inputs, next.base] : next.inputs) r.set.advise(r.name, 'willneed');
          const meta = outMeta(name);
          const t = byName.get(name)!;
          if (t.compute === undefined) {
            writer.write(name, t.ref.set.chunks(t.ref.name));
            bytesRead += meta.byteLength;
          } else {
            writer.advise(name, 'populate');  // the output pages in one call, not a fault per page
            bytesRead += await mergeTensor(config, name, t.compute, writer.view(name) as Float32Array | Uint16Array, meta.dtype as KernelDType, jIndex.get(name)!, o.seed ?? 0, stats);
          }
          bytesWritten += meta.byteLength;
          o.onTensor?.({ name, index: index++, total: names.length, bytes: meta.byteLength });
        }
        const f0 = performance.now();
        await writer.commitAsync();
        flushSeconds += (performance.now() - f0) / 1000;
      } catch (err) {
        writer.abort();
        throw err;
      }
    }
    if (groups.length > 1) writeFileAtomic(path.join(tempDir, INDEX_NAME), JSON.stringify({ metadata: { total_size: bytesWritten }, weight_map: weightMap }, null, 2) + '\n');
    let written = shardNames;
    if (ref.format === 'gguf' && planned.layerCount === undefined) {
      // GGUF in, GGUF out: the shards just written become model.gguf with the reference model's
      // metadata and tensor order (one extra pass over the output; the merge code stays one path).
      written = [toGgufLike(ref.files[0] as GgufFile, tempDir, shardNames)];
    }
    if (planned.layerCount !== undefined) {
      // A frankenmerge has its own depth: carry the config (as the CLI would) and set its layer count.
      carryModelFiles([config.baseModel, config.models[0]?.model], tempDir);
      setLayerCount(tempDir, planned.layerCount, planned.layerConfigKey!);
    } else {
      copyCarriedFiles(ref.folder, tempDir);
    }
    if (config.tokenizerSource !== undefined) carryTokenizer(config.tokenizerSource, tempDir, config.file);
    out.commit();
    return { folder: outDir, shards: written, tensors: names.length, computed: computed.size, bytesRead, bytesWritten, seconds: (performance.now() - t0) / 1000, flushSeconds };
  } catch (err) {
    if (out === undefined) throw err;
    out.abort();
    throw out.retarget(err);
  } finally {
    for (const w of opened) w.close();
  }
}

/** Rewrites the safetensors output in `dir` as `dir`/model.gguf shaped like `template`, then removes the shards. */
function toGgufLike(template: GgufFile, dir: string, shards: readonly string[]): string {
  const merged = openWeights(dir);
  try {
    writeLike(template, merged, path.join(dir, GGUF_NAME));
  } finally {
    merged.close();
  }
  for (const f of [...shards, INDEX_NAME]) fs.rmSync(path.join(dir, f), { force: true });
  return GGUF_NAME;
}

async function mergeTensor(config: MergeConfig, name: string, c: TensorCompute, out: Float32Array | Uint16Array, outDtype: KernelDType, j: number, seed: number, stats?: WeightSet[]): Promise<number> {
  const method = config.method;
  const entries = c.models;
  const layers = c.layers;
  const global: Record<string, number | boolean | string> = {};
  const perModel: Record<string, number>[] = c.inputs.map(() => ({}));
  for (const p of method.params) {
    if (p.path) continue;
    if (p.perModel) {
      entries.forEach((m, i) => {
        const v = m.parameters[p.name] ?? c.parameters[p.name];
        const value = v === undefined ? p.default! : resolveParam(v, name, layers, `${config.file}: ${c.label(i)}.parameters.${p.name}`);
        perModel[i]![p.name] = Number(value);
      });
    } else {
      const v = c.parameters[p.name];
      global[p.name] = v === undefined ? p.default! : resolveParam(v, name, layers, `${config.file}: parameters.${p.name}`);
    }
  }
  for (const p of method.params) {
    const values = p.perModel ? perModel.map((x) => x[p.name]!) : [global[p.name]];
    for (const v of values) {
      if (typeof v === 'number' && ((p.min !== undefined && v < p.min) || (p.max !== undefined && v > p.max))) {
        throw new EvolverArgumentError(`${config.file}: ${p.name} = ${v} for tensor '${name}' is outside [${p.min}, ${p.max}]`);
      }
    }
  }
  // One input dtype for the kernels: the models' own when they agree, else float32 copies.
  // mergekit's `dtype` rounds every input to it first (its loading does .to(dtype)); widening
  // to float32 is exact, so only a narrower dtype than a model's own needs a rounded copy.
  const all = c.base ? [...c.inputs, c.base] : c.inputs;
  const dtypes = new Set(all.map((r) => r.set.meta(r.name).dtype as KernelDType));
  const load = config.dtype !== undefined && config.dtype !== 'F32' && [...dtypes].some((d) => d !== config.dtype) ? config.dtype : undefined;
  const inDtype: KernelDType = load ?? (dtypes.size === 1 ? [...dtypes][0]! : 'F32');
  const view = async (r: TensorRef): Promise<Float32Array | Uint16Array> => {
    const v = r.set.view(r.name) as Float32Array | Uint16Array;
    const own = r.set.meta(r.name).dtype as KernelDType;
    if (own === inDtype) return v;
    const n = r.set.meta(r.name).elements;
    const copy = inDtype === 'F32' ? k.scratchF32(n) : new Uint16Array(n);
    await k.convert({ src: v, inDtype: own, out: copy, outDtype: inDtype });
    return copy;
  };
  const shape = all[0]!.set.meta(all[0]!.name).shape;
  const fishers = method.name === 'fisher' ? stats : undefined;
  const grams = method.name === 'regmean' ? layerGrams(stats!, name, shape) : undefined;
  const fisher = fishers === undefined ? undefined : fisherViews(fishers, name, c.inputs[0]!.set.meta(c.inputs[0]!.name).elements);
  const job: TensorJob = {
    name,
    shape,
    ...(fisher ? { fisher } : {}),
    ...(grams ? { grams } : {}),
    inDtype,
    outDtype,
    inputs: await Promise.all(c.inputs.map(view)),
    base: c.base ? await view(c.base) : undefined,
    out,
    global,
    perModel,
    seed,
    tensorIndex: j,
  };
  try {
    await method.run(job);
  } catch (err) {
    if (err instanceof RegmeanError) throw err;  // typed, naming the tensor and the statistics file
    throw new EvolverArgumentError(`${config.file}: merging tensor '${name}' with ${method.name} failed: ${(err as Error).message}`);
  }
  return all.reduce((a, r) => a + r.set.meta(r.name).byteLength, 0);
}
