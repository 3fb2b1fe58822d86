/**
 * The output tensors of a `slices` merge, as mergekit's MergePlanner lays them out: embeddings
 * from the first slice's sources, then each slice's layers (source layer a + k becomes output
 * layer n + k, n = layers written so far), then the remaining non-layer tensors (final norm,
 * lm_head) from the last slice's sources. Gradients run over each slice's own layers: layer k of
 * a slice of K layers sits at k / (K - 1) (1 when K = 1), embeddings at 0, the tail at 1.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError } from '../evolve/config.js';
import { WeightFileError } from '../errors.js';
import type { WeightSet } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import { compareNames } from '../store/source.js';
import { writeFileAtomic } from '../store/write-checkpoint.js';
import type { MergeConfig, MergeModel, MergeSlice } from './config.js';
import { type ModelLayers, isPreLayer, modelLayers } from './layer-scheme.js';
import { type MergePlan, type PlannedTensor, type TensorRef, checkInput } from './plan.js';

interface OpenSource {
  set: WeightSet;
  layers: ModelLayers;
  key: string;
  model: MergeModel;
}

export function planSlices(config: MergeConfig, open: (p: string) => WeightSet): MergePlan {
  const slices = config.slices!;
  const file = config.file;
  const cache = new Map<string, { set: WeightSet; layers: ModelLayers }>();
  const sourcesOf = (s: MergeSlice, i: number): OpenSource[] => s.sources.map((src, j) => {
    const key = `slices[${i}].sources[${j}]`;
    let hit = cache.get(src.model);
    if (hit === undefined) {
      const set = open(src.model);
      hit = { set, layers: modelLayers(set.names(), src.model, file, `${key}.model`) };
      cache.set(src.model, hit);
    }
    const [a, b] = src.layerRange;
    if (b > hit.layers.count) {
      throw new ConfigError(file, `${key}.layer_range`, `[${a}, ${b}] is out of bounds: ${src.model} has ${hit.layers.count} layers (0..${hit.layers.count - 1}; the end is exclusive, so at most [${Math.min(a, hit.layers.count)}, ${hit.layers.count}])`);
    }
    return { ...hit, key, model: { model: src.model, parameters: src.parameters } };
  });
  const opened = slices.map(sourcesOf);
  const all = opened.flat();
  const scheme = all[0]!.layers.scheme;
  const other = all.find((s) => s.layers.scheme !== scheme);
  if (other !== undefined) throw new ConfigError(file, `${other.key}.model`, `${other.model.model} names its layers ${other.layers.scheme.prefix}N., ${all[0]!.model.model} ${scheme.prefix}N.; slices must share one naming scheme`);

  const tensors: PlannedTensor[] = [];
  // One slice's sources merged for one output tensor; `inName(s)` is that tensor's name in source s.
  const plan = (sliceIndex: number, outName: string, inName: (s: OpenSource) => string, position: number) => {
    const srcs = opened[sliceIndex]!;
    const baseAt = srcs.findIndex((s) => s.model.model === config.baseModel);
    const inputs = srcs.filter((_, i) => i !== baseAt);
    const first = srcs[0]!;
    const ref: TensorRef = { set: first.set, name: inName(first) };
    if (!first.set.has(ref.name)) throw new WeightFileError('TENSOR_NOT_FOUND', first.set.path, `has no tensor '${ref.name}' (${first.key})`, { tensor: ref.name });
    // A tensor the kernels cannot compute on (an integer buffer) is copied from the first source.
    if (!isComputeDType(first.set.meta(ref.name).dtype)) return void tensors.push({ name: outName, ref });
    for (const s of srcs) checkInput(s.set, inName(s), ref, s.key);
    const slice = slices[sliceIndex]!;
    tensors.push({
      name: outName,
      ref,
      compute: {
        models: inputs.map((s) => s.model),
        // mergekit's lookup order: the source's parameters, then the slice's, then the top level.
        parameters: { ...config.parameters, ...slice.parameters },
        inputs: inputs.map((s) => ({ set: s.set, name: inName(s) })),
        base: baseAt < 0 ? undefined : { set: srcs[baseAt]!.set, name: inName(srcs[baseAt]!) },
        layers: { of: () => undefined, count: 0, position: () => position },
        label: (i) => inputs[i]!.key,
      },
    });
  };

  const outside = (s: OpenSource) => s.set.names().filter((n) => s.layers.split(n) === undefined);
  for (const name of outside(opened[0]![0]!).filter(isPreLayer)) plan(0, name, () => name, 0);
  let n = 0;
  slices.forEach((slice, i) => {
    const first = opened[i]![0]!;
    const count = slice.sources[0]!.layerRange[1] - slice.sources[0]!.layerRange[0];
    for (let k = 0; k < count; k++) {
      const position = count > 1 ? k / (count - 1) : 1;
      for (const suffix of first.layers.suffixes(slice.sources[0]!.layerRange[0] + k)) {
        plan(i, scheme.prefix + (n + k) + '.' + suffix, (s) => s.layers.layerName(slice.sources[opened[i]!.indexOf(s)]!.layerRange[0] + k, suffix), position);
      }
    }
    n += count;
  });
  const last = slices.length - 1;
  for (const name of outside(opened[last]![0]!).filter((x) => !isPreLayer(x))) plan(last, name, () => name, 1);
  tensors.sort((a, b) => compareNames(a.name, b.name));
  const carryFrom = config.baseModel !== undefined ? (cache.get(config.baseModel)?.set ?? open(config.baseModel)) : all[0]!.set;
  return { tensors, carryFrom, layerCount: n, layerConfigKey: scheme.configKey };
}

/**
 * Writes the output's layer count into the config.json carried into `dir` (mergekit's
 * _model_out_config does the same). Without a config.json there is nothing to update.
 */
export function setLayerCount(dir: string, count: number, key: string): void {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) return;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new WeightFileError('BAD_METADATA', file, `is not readable JSON, so its layer count cannot be set (${(err as Error).message})`);
  }
  config[key] = count;
  writeFileAtomic(file, JSON.stringify(config, null, 2) + '\n');
}
