/**
 * What a merge writes, tensor by tensor: each output tensor's name, the input tensors it is
 * computed from (or the one it is copied from) and the parameters that apply to it. The
 * `models` form maps every name to itself; `slices` (slice-plan.ts) renames layers.
 */
import { WeightFileError } from '../errors.js';
import type { WeightSet } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import { type LayerPositions, type MergeConfig, type MergeModel, type ParamValue, layerInfo } from './config.js';

/** One input tensor: a checkpoint and the tensor's name in it. */
export interface TensorRef {
  set: WeightSet;
  name: string;
}

export interface TensorCompute {
  /** Per input: where its per-model parameters come from. */
  models: MergeModel[];
  /** Global parameters for this tensor (a slice's own over the config's). */
  parameters: Record<string, ParamValue>;
  inputs: TensorRef[];
  base: TensorRef | undefined;
  layers: LayerPositions;
  /** How errors name input i (`models[2]`, `slices[1].sources[0]`). */
  label(i: number): string;
}

export interface PlannedTensor {
  /** The output name. */
  name: string;
  /** The tensor copied (or, when computed, the first input: its shape and dtype). */
  ref: TensorRef;
  compute?: TensorCompute;
}

export interface MergePlan {
  tensors: PlannedTensor[];
  /** Whose config and tokenizer files the output carries. */
  carryFrom: WeightSet;
  /** Set for slices: the output's number of layers (written into its config.json). */
  layerCount?: number;
  layerConfigKey?: string;
}

/** Checks that `w` has `name` with the reference's shape and a dtype the kernels compute on. */
export function checkInput(w: WeightSet, name: string, ref: TensorRef, who: string): void {
  if (!w.has(name)) throw new WeightFileError('TENSOR_NOT_FOUND', w.path, `is missing tensor '${name}' that ${ref.set.path} has (${who})`, { tensor: name });
  const m = w.meta(name);
  const meta = ref.set.meta(ref.name);
  if (m.shape.length !== meta.shape.length || m.shape.some((d, x) => d !== meta.shape[x])) {
    throw new WeightFileError('SIZE_MISMATCH', w.path, `has shape ${JSON.stringify(m.shape)}, ${ref.set.path} has ${JSON.stringify(meta.shape)} for '${ref.name}' (${who})`, { tensor: name });
  }
  if (!isComputeDType(m.dtype)) throw new WeightFileError('UNKNOWN_DTYPE', w.path, `${m.dtype} cannot be merged (${who})`, { tensor: name });
}

/** The `models` form: every tensor of the base (or first model), merged from the same name in each model. */
export function planModels(config: MergeConfig, open: (p: string) => WeightSet): MergePlan {
  const base = config.baseModel === undefined ? undefined : open(config.baseModel);
  const entries = config.models.filter((m) => m.model !== config.baseModel);
  const inputs = entries.map((m) => open(m.model));
  const ref = base ?? inputs[0]!;
  const names = ref.names();
  const layers = layerInfo(names);
  const tensors = names.map((name): PlannedTensor => {
    const self = { set: ref, name };
    if (!isComputeDType(ref.meta(name).dtype)) return { name, ref: self };
    inputs.forEach((w, i) => checkInput(w, name, self, `models[${config.models.indexOf(entries[i]!)}]`));
    return {
      name,
      ref: self,
      compute: {
        models: entries,
        parameters: config.parameters,
        inputs: inputs.map((set) => ({ set, name })),
        base: base === undefined ? undefined : { set: base, name },
        layers,
        label: (i) => `models[${i}]`,
      },
    };
  });
  return { tensors, carryFrom: ref };
}
