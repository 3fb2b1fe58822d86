/**
 * Merge methods as a declarative registry (name, parameters with defaults, the paper), after
 * mergekit's definitions. Each method computes one output tensor from the models' tensors with
 * the native kernels.
 */
import * as k from '../kernels/index.js';
import type { KernelDType } from '../native.js';
import { type LayerGrams, regmeanTensor } from './regmean.js';
import { karcher, multislerp, nuslerp } from './sphere-methods.js';

export interface ParamDef {
  name: string;
  default?: number | boolean;
  /** Per model (`models[i].parameters`) rather than global (`parameters`). */
  perModel?: boolean;
  min?: number;
  max?: number;
  /** A file path (relative to the config) instead of a number. */
  path?: boolean;
  /** Also accepts these strings (as well as true / false); see rescaleOf. */
  choices?: readonly string[];
}

export interface TensorJob {
  name: string;
  /** The tensor's shape (della ranks magnitudes within rows: shape[0] rows). */
  shape: readonly number[];
  inDtype: KernelDType;
  outDtype: KernelDType;
  /** Views of the models' tensors (base excluded), in config order. */
  inputs: (Float32Array | Uint16Array)[];
  base: Float32Array | Uint16Array | undefined;
  out: Float32Array | Uint16Array;
  /** Resolved for this tensor: global values, and per-model values (index = input index). */
  global: Record<string, number | boolean | string>;
  perModel: Record<string, number>[];
  seed: number | bigint;
  tensorIndex: number;
  /** fisher: each input's diagonal Fisher for this tensor. */
  fisher?: { views: (Float32Array | Uint16Array)[]; dtype: KernelDType };
  /** regmean: the models' Gram matrices for this tensor; undefined = not a linear layer (averaged). */
  grams?: LayerGrams;
}

export interface MergeMethod {
  name: string;
  paper: string;
  needsBase: boolean;
  /** A base_model is refused (passthrough: exactly one model in all). */
  noBase?: boolean;
  minModels: number;
  maxModels?: number;
  params: ParamDef[];
  run(job: TensorJob): Promise<void>;
}

const weight: ParamDef = { name: 'weight', perModel: true };
const density: ParamDef = { name: 'density', perModel: true, default: 1, min: 0, max: 1 };
const lambda: ParamDef = { name: 'lambda', default: 1 };

/** mergekit's normalize for sums: divide by the weights' sum (unless it is ~0). */
function normalizedWeights(w: number[], normalize: boolean): number[] {
  if (!normalize) return w;
  const sum = w.reduce((a, b) => a + b, 0);
  return Math.abs(sum) < 1e-8 ? w : w.map((x) => x / sum);
}

/**
 * `rescale` as mergekit means it: true = keep each task vector's L1 norm ('l1'), false = 'none';
 * 'density' (divide kept entries by density, as the DARE paper writes it) is offered by name.
 */
export function rescaleOf(v: number | boolean | string | undefined): k.Rescale {
  if (v === true) return 'l1';
  if (v === false || v === undefined) return 'none';
  if (v === 'l1' || v === 'density' || v === 'none') return v;
  throw new Error(`rescale must be true, false, 'l1', 'density' or 'none', got ${JSON.stringify(v)}`);
}


/** Elements per row of a tensor: the product of all but the first dimension (a 1-D tensor is one row). */
export function rowLengthOf(shape: readonly number[]): number {
  const n = shape.reduce((a, b) => a * b, 1);
  return shape.length >= 2 && shape[0]! > 0 ? n / shape[0]! : Math.max(1, n);
}

function ramMethod(name: string, plus: boolean): MergeMethod {
  const params: ParamDef[] = [{ name: 'epsilon', default: 1e-5, min: 0 }];
  if (plus) params.push({ name: 'r', default: 0.1 }, { name: 'alpha', default: 0.2, min: 0 });
  return {
    name,
    paper: `Reinforced Agent Merging${plus ? ' Plus, tensor-local' : ''} (RAM, arXiv 2601.13572), as mergekit's ${name}`,
    needsBase: true,
    minModels: 1,
    params,
    async run(j) {
      await k.ram({
        inputs: j.inputs, weights: j.inputs.map(() => 1), base: j.base!, inDtype: j.inDtype, outDtype: j.outDtype, out: j.out,
        epsilon: j.global.epsilon as number, plus, ...(plus ? { r: j.global.r as number, alpha: j.global.alpha as number } : {}),
      });
    },
  };
}

function gta(name: string, paper: string, sparsify: 'none' | 'magnitude' | 'random' | 'band' | 'della', consensus: boolean, normalize: boolean, rescale: boolean): MergeMethod {
  // Every generalized task arithmetic method takes `density` and `rescale` (as in mergekit;
  // without sparsification they have no effect), so configs can switch methods unchanged.
  const params: ParamDef[] = [weight, density, lambda, { name: 'normalize', default: normalize }, { name: 'rescale', default: rescale, choices: sparsify === 'random' ? ['l1', 'density', 'none'] : ['l1', 'none'] }];
  if (sparsify === 'band') params.push({ name: 'gamma', perModel: true, default: 0.01, min: 0, max: 1 });
  if (sparsify === 'della') params.push({ name: 'epsilon', perModel: true, default: 0.15, min: 0, max: 1 });
  return {
    name,
    paper,
    needsBase: true,
    minModels: 1,
    params,
    async run(j) {
      const w = j.perModel.map((p) => p.weight!);
      const common = { inputs: j.inputs, base: j.base!, inDtype: j.inDtype, outDtype: j.outDtype, out: j.out, lambda: j.global.lambda as number };
      const norm = j.global.normalize as boolean;
      const weights = consensus ? w : normalizedWeights(w, norm);
      if (sparsify === 'none') return k.taskArithmetic({ ...common, weights });
      const d = j.perModel.map((p) => p.density!);
      const r = rescaleOf(j.global.rescale);
      if (r === 'density' && sparsify !== 'random') throw new Error(`rescale 'density' is DARE's (random drops); ${name} takes true / 'l1' or false`);
      if (sparsify === 'magnitude') return k.ties({ ...common, weights, density: d, normalize: norm, rescale: r as 'none' | 'l1' });
      if (sparsify === 'della') {
        return k.della({ ...common, weights, density: d, epsilon: j.perModel.map((p) => p.epsilon!), rowLength: rowLengthOf(j.shape), rescale: r as 'none' | 'l1', combine: consensus ? 'ties' : 'linear', normalize: norm, seed: j.seed, tensorIndex: j.tensorIndex });
      }
      if (sparsify === 'random') {
        return k.dare({ ...common, weights, density: d, rescale: r, combine: consensus ? 'ties' : 'linear', normalize: norm, seed: j.seed, tensorIndex: j.tensorIndex });
      }
      return k.breadcrumbs({ ...common, weights, density: d, gamma: j.perModel.map((p) => p.gamma!), rescale: r as 'none' | 'l1', combine: consensus ? 'ties' : 'linear', normalize: norm });
    },
  };
}

export const MERGE_METHODS: Readonly<Record<string, MergeMethod>> = {
  linear: {
    name: 'linear',
    paper: 'Model soups, Wortsman et al. 2022 (arXiv 2203.05482)',
    needsBase: false,
    minModels: 1,
    params: [weight, { name: 'normalize', default: true }],
    async run(j) {
      const weights = normalizedWeights(j.perModel.map((p) => p.weight!), j.global.normalize as boolean);
      await k.linear({ inputs: j.inputs, weights, inDtype: j.inDtype, outDtype: j.outDtype, out: j.out });
    },
  },
  task_arithmetic: gta('task_arithmetic', 'Editing models with task arithmetic, Ilharco et al. 2023 (arXiv 2212.04089)', 'none', false, false, false),
  ties: gta('ties', 'TIES-Merging, Yadav et al. 2023 (arXiv 2306.01708)', 'magnitude', true, true, false),
  dare_linear: gta('dare_linear', 'DARE, Yu et al. 2024 (arXiv 2311.03099)', 'random', false, false, true),
  dare_ties: gta('dare_ties', 'DARE, Yu et al. 2024 (arXiv 2311.03099)', 'random', true, false, true),
  breadcrumbs: gta('breadcrumbs', 'Model Breadcrumbs, Davari & Belilovsky 2024 (arXiv 2312.06795)', 'band', false, false, false),
  della: gta('della', 'DELLA-Merging (MagPrune), Deep et al. 2024 (arXiv 2406.11617)', 'della', true, true, true),
  della_linear: gta('della_linear', 'DELLA-Merging (MagPrune), Deep et al. 2024 (arXiv 2406.11617)', 'della', false, false, true),
  breadcrumbs_ties: gta('breadcrumbs_ties', 'Model Breadcrumbs, Davari & Belilovsky 2024 (arXiv 2312.06795)', 'band', true, false, false),
  slerp: {
    name: 'slerp',
    paper: 'Shoemake 1985; as in mergekit',
    needsBase: true,
    minModels: 1,
    maxModels: 1,
    params: [{ name: 't', min: 0, max: 1 }],
    async run(j) {
      // t = 0 gives the base model, t = 1 the other one.
      await k.slerp({ x: j.base!, y: j.inputs[0]!, t: j.global.t as number, inDtype: j.inDtype, outDtype: j.outDtype, out: j.out });
    },
  },
  passthrough: {
    name: 'passthrough',
    paper: 'mergekit\'s passthrough (no paper): the one model\'s tensors, times an optional scale',
    needsBase: false,
    noBase: true,
    minModels: 1,
    maxModels: 1,
    params: [{ name: 'scale', perModel: true, default: 1 }],
    async run(j) {
      const scale = j.perModel[0]!.scale!;
      // scale 1 (mergekit's default None) copies the bits exactly when the dtype is kept.
      if (scale === 1 && j.inDtype === j.outDtype) return void j.out.set(j.inputs[0]! as never);
      if (scale === 1) return k.convert({ src: j.inputs[0]!, inDtype: j.inDtype, out: j.out, outDtype: j.outDtype });
      await k.linear({ inputs: j.inputs, weights: [scale], inDtype: j.inDtype, outDtype: j.outDtype, out: j.out });
    },
  },
  nearswap: {
    name: 'nearswap',
    paper: 'NearSwap, alchemonaut 2024 (huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001), as in mergekit',
    needsBase: true,
    minModels: 1,
    maxModels: 1,
    params: [{ name: 't', min: 0 }],
    async run(j) {
      await k.nearswap({ x: j.inputs[0]!, base: j.base!, t: j.global.t as number, inDtype: j.inDtype, outDtype: j.outDtype, out: j.out });
    },
  },
  sce: {
    name: 'sce',
    paper: 'FuseChat (Select, Calculate, Erase), Wan et al. 2024 (arXiv 2408.07990), as mergekit\'s sce',
    needsBase: true,
    minModels: 1,
    params: [{ name: 'select_topk', default: 1, min: 0, max: 1 }],
    async run(j) {
      await k.sce({ inputs: j.inputs, weights: j.inputs.map(() => 1), base: j.base!, inDtype: j.inDtype, outDtype: j.outDtype, out: j.out, selectTopk: j.global.select_topk as number });
    },
  },
  arcee_fusion: {
    name: 'arcee_fusion',
    paper: 'Arcee Fusion (arcee.ai; no paper), as mergekit\'s arcee_fusion',
    needsBase: true,
    minModels: 1,
    maxModels: 1,
    params: [],
    async run(j) {
      // softmax / KL along the last dimension, as mergekit (a 1-D tensor is one row).
      const last = j.shape.length > 0 ? j.shape[j.shape.length - 1]! : 1;
      await k.arceeFusion({ x: j.inputs[0]!, base: j.base!, rowLength: Math.max(1, last), inDtype: j.inDtype, outDtype: j.outDtype, out: j.out });
    },
  },
  ram: ramMethod('ram', false),
  ramplus_tl: ramMethod('ramplus_tl', true),
  nuslerp,
  multislerp,
  karcher,
  fisher: {
    name: 'fisher',
    paper: 'Merging models with Fisher-weighted averaging, Matena & Raffel 2022 (arXiv 2111.09832)',
    needsBase: false,
    minModels: 1,
    params: [{ name: 'weight', perModel: true, default: 1 }, { name: 'fisher', perModel: true, path: true }, { name: 'epsilon', default: 1e-8, min: 0 }],
    async run(j) {
      await k.fisher({
        inputs: j.inputs,
        fisher: j.fisher!.views,
        fisherDtype: j.fisher!.dtype,
        weights: j.perModel.map((p) => p.weight!),
        epsilon: j.global.epsilon as number,
        inDtype: j.inDtype,
        outDtype: j.outDtype,
        out: j.out,
      });
    },
  },
  regmean: {
    name: 'regmean',
    paper: 'Dataless Knowledge Fusion by Merging Weights of Language Models (RegMean), Jin et al. 2023 (arXiv 2212.09849)',
    needsBase: false,
    minModels: 2,
    // alpha scales the Grams' off-diagonal part (the paper's reduction; 1 = exact RegMean).
    params: [{ name: 'grams', perModel: true, path: true }, { name: 'alpha', default: 0.9, min: 0, max: 1 }],
    async run(j) {
      await regmeanTensor({ grams: j.grams, alpha: j.global.alpha as number, inputs: j.inputs, inDtype: j.inDtype, out: j.out, outDtype: j.outDtype });
    },
  },
  model_stock: {
    name: 'model_stock',
    paper: 'Model Stock, Jang et al. 2024 (arXiv 2403.19522)',
    needsBase: true,
    minModels: 2,
    params: [],
    async run(j) {
      // t = N cos / (1 + (N - 1) cos), cos the mean pairwise cosine of the task vectors;
      // out = t * mean(models) + (1 - t) * base, by the linear kernel.
      const n = j.inputs.length;
      // Task vectors x_i - base in float32, straight from the inputs' own dtype (one kernel pass each).
      const taus = await Promise.all(j.inputs.map(async (x) => {
        const tau = k.scratchF32(x.length);
        await k.linear({ inputs: [x, j.base!], weights: [1, -1], inDtype: j.inDtype, outDtype: 'F32', out: tau });
        return tau;
      }));
      const norms = await Promise.all(taus.map((t) => k.dot(t, t, 'F32')));
      let cos = 0, pairs = 0;
      for (let a = 0; a < n; a++) {
        for (let b = a + 1; b < n; b++) {
          const denom = Math.sqrt(norms[a]! * norms[b]!);
          cos += denom > 1e-12 ? (await k.dot(taus[a]!, taus[b]!, 'F32')) / denom : 0;
          pairs++;
        }
      }
      cos /= pairs;
      const t = (n * cos) / (1 + (n - 1) * cos);
      const tt = Number.isFinite(t) ? t : 0;
      await k.linear({ inputs: [...j.inputs, j.base!], weights: [...j.inputs.map(() => tt / n), 1 - tt], inDtype: j.inDtype, outDtype: j.outDtype, out: j.out });
    },
  },
};

export const MERGE_METHOD_NAMES = Object.keys(MERGE_METHODS);
