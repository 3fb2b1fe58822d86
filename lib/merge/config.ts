/**
 * mergekit's YAML merge configuration: `models` (each with `parameters`), `base_model`,
 * `merge_method`, `parameters`, `dtype`, `out_dtype`. Parameter values are scalars, gradients
 * (a list interpolated over layer depth) or lists of `{filter, value}` conditions on tensor
 * names. Keys this tool does not implement are an error that lists them — never ignored
 * (`int8_mask`, which only changes how mergekit stores masks, is accepted and has no effect).
 */
import fs from 'node:fs';
import path from 'node:path';

import { parse as parseYaml } from 'yaml';

import type { KernelDType } from '../native.js';
import { ConfigError } from '../evolve/config.js';
import { MERGE_METHODS, MERGE_METHOD_NAMES, type MergeMethod } from './methods.js';
import { validateSlicesConfig } from './slices-config.js';

export type ParamValue = number | boolean | string | number[] | { filter?: string; value: number | boolean | number[] }[];

export interface MergeModel {
  model: string;
  parameters: Record<string, ParamValue>;
}

/** One source of a slice: layers [a, b) of a model (mergekit's InputSliceDefinition). */
export interface SliceSource {
  model: string;
  layerRange: [number, number];
  parameters: Record<string, ParamValue>;
}

/** One output slice (mergekit's OutputSliceDefinition): its sources' layers, merged, renumbered. */
export interface MergeSlice {
  sources: SliceSource[];
  parameters: Record<string, ParamValue>;
}

export interface MergeConfig {
  file: string;
  method: MergeMethod;
  /** `tokenizer_source`: the model whose tokenizer files the output carries (pass-through). */
  tokenizerSource?: string;
  /** With `slices`: every model the slices name, first appearance first (for carried files). */
  models: MergeModel[];
  /** mergekit's `slices` (instead of `models`): output layers taken from layer ranges of the inputs. */
  slices?: MergeSlice[];
  baseModel: string | undefined;
  parameters: Record<string, ParamValue>;
  /** Output dtype for computed tensors (out_dtype, else dtype, else the inputs'). */
  outDtype: KernelDType | undefined;
  /**
   * mergekit's `dtype`: the dtype tensors are loaded in. Inputs are rounded to it first (as
   * mergekit's loading does); the arithmetic itself is float32 whatever it says (see README).
   */
  dtype: KernelDType | undefined;
}

const TOP_KEYS = new Set(['models', 'slices', 'base_model', 'merge_method', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source']);
const KNOWN_UNSUPPORTED = ['tokenizer', 'chat_template', 'modules', 'experts', 'gate_mode'];
/**
 * Global parameters mergekit configs commonly carry that change how mergekit spends memory, not
 * what it computes: `int8_mask` stores its intermediate masks as int8 instead of the working
 * dtype. The kernels here never materialize a mask, so it is accepted (a boolean) and ignored.
 */
export const ACCEPTED_NO_EFFECT = new Set(['int8_mask']);

export function parseDtype(s: unknown, file: string, key: string): KernelDType {
  const map: Record<string, KernelDType> = { float32: 'F32', fp32: 'F32', f32: 'F32', float16: 'F16', fp16: 'F16', half: 'F16', f16: 'F16', bfloat16: 'BF16', bf16: 'BF16' };
  const d = typeof s === 'string' ? map[s.toLowerCase()] : undefined;
  if (d === undefined) throw new ConfigError(file, key, `expected one of float32, float16, bfloat16, got ${JSON.stringify(s)}`);
  return d;
}

function checkValue(v: unknown, file: string, key: string): ParamValue {
  const scalarOrGradient = (x: unknown) => typeof x === 'number' || typeof x === 'boolean' || (Array.isArray(x) && x.length > 0 && x.every((n) => typeof n === 'number'));
  if (scalarOrGradient(v)) return v as ParamValue;
  if (Array.isArray(v) && v.every((c) => c !== null && typeof c === 'object' && 'value' in c)) {
    v.forEach((c, i) => {
      const extra = Object.keys(c).filter((x) => x !== 'filter' && x !== 'value');
      if (extra.length > 0) throw new ConfigError(file, `${key}[${i}]`, `unsupported keys: ${extra.join(', ')} (a condition is {filter, value})`);
      if (c.filter !== undefined && typeof c.filter !== 'string') throw new ConfigError(file, `${key}[${i}].filter`, 'expected a string');
      if (!scalarOrGradient(c.value)) throw new ConfigError(file, `${key}[${i}].value`, 'expected a number, a boolean or a list of numbers');
    });
    return v as ParamValue;
  }
  throw new ConfigError(file, key, 'expected a number, a boolean, a list of numbers (gradient) or a list of {filter, value}');
}

export function checkParams(raw: unknown, method: MergeMethod, perModel: boolean, file: string, key: string): Record<string, ParamValue> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, key, 'expected a mapping of parameters');
  const allowed = method.params.filter((p) => (p.perModel === true) === perModel).map((p) => p.name);
  const out: Record<string, ParamValue> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (perModel && ACCEPTED_NO_EFFECT.has(name)) throw new ConfigError(file, `${key}.${name}`, `'${name}' is a global parameter; put it under parameters`);
    if (ACCEPTED_NO_EFFECT.has(name)) {
      // mergekit's memory options: accepted for compatibility, no effect on the result here.
      if (typeof value !== 'boolean') throw new ConfigError(file, `${key}.${name}`, `expected true or false, got ${JSON.stringify(value)}`);
      continue;
    }
    if (!allowed.includes(name)) {
      const other = method.params.some((p) => p.name === name);
      throw new ConfigError(file, `${key}.${name}`, other
        ? `'${name}' is a ${perModel ? 'global' : 'per-model'} parameter of ${method.name}; put it under ${perModel ? 'parameters' : 'models[].parameters'}`
        : `${method.name} has no parameter '${name}' (${allowed.length ? `it takes ${allowed.join(', ')} here` : 'it takes none here'})`);
    }
    const def = method.params.find((p) => p.name === name)!;
    if (def.choices) {
      // rescale: true / false as in mergekit, or a named variant.
      if (typeof value !== 'boolean' && !(typeof value === 'string' && def.choices.includes(value))) {
        throw new ConfigError(file, `${key}.${name}`, `expected true, false or one of ${def.choices.join(', ')}, got ${JSON.stringify(value)}`);
      }
      out[name] = value;
    } else if (def.path) {
      if (typeof value !== 'string' || value.length === 0) throw new ConfigError(file, `${key}.${name}`, 'expected a file path');
      out[name] = path.resolve(path.dirname(path.resolve(file)), value);
    } else {
      out[name] = checkValue(value, file, `${key}.${name}`);
    }
  }
  return out;
}

export function loadMergeConfig(file: string): MergeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(file, '', `cannot read it as YAML (${(err as Error).message.split('\n')[0]})`);
  }
  return validateMergeConfig(raw, file);
}

export function validateMergeConfig(raw: unknown, file: string): MergeConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, '', 'expected a mapping (models, merge_method, ...)');
  const r = raw as Record<string, unknown>;
  const unsupported = Object.keys(r).filter((key) => !TOP_KEYS.has(key));
  if (unsupported.length > 0) {
    const known = unsupported.filter((u) => KNOWN_UNSUPPORTED.includes(u));
    throw new ConfigError(file, '', `unsupported keys: ${unsupported.join(', ')}${known.length ? ` (${known.join(', ')}: mergekit features not implemented here)` : ''}; supported: ${[...TOP_KEYS].join(', ')}`);
  }
  if (typeof r.merge_method !== 'string' || !MERGE_METHOD_NAMES.includes(r.merge_method)) {
    throw new ConfigError(file, 'merge_method', `expected one of ${MERGE_METHOD_NAMES.join(', ')}, got ${JSON.stringify(r.merge_method)}`);
  }
  const method = MERGE_METHODS[r.merge_method]!;
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(dir, p);
  // mergekit: exactly one of models / slices (its 'modules' is refused above as not implemented).
  if (r.slices !== undefined && r.models !== undefined) throw new ConfigError(file, '', "give either 'models' or 'slices', not both (as mergekit)");
  if (r.slices !== undefined) return withTokenizerSource(validateSlicesConfig(r, file, method), r.tokenizer_source);
  if (!Array.isArray(r.models) || r.models.length === 0) throw new ConfigError(file, 'models', 'expected a non-empty list of {model, parameters}');
  const models: MergeModel[] = r.models.map((m, i) => {
    const entry = typeof m === 'string' ? { model: m } : (m as Record<string, unknown>);
    if (entry === null || typeof entry !== 'object' || typeof entry.model !== 'string') throw new ConfigError(file, `models[${i}].model`, 'expected a path');
    const extra = Object.keys(entry).filter((key) => key !== 'model' && key !== 'parameters');
    if (extra.length > 0) throw new ConfigError(file, `models[${i}]`, `unsupported keys: ${extra.join(', ')}`);
    return { model: abs(entry.model), parameters: checkParams(entry.parameters, method, true, file, `models[${i}].parameters`) };
  });
  const baseModel = r.base_model === undefined ? undefined : typeof r.base_model === 'string' ? abs(r.base_model) : (() => { throw new ConfigError(file, 'base_model', 'expected a path'); })();
  if (method.needsBase && baseModel === undefined) throw new ConfigError(file, 'base_model', `${method.name} needs a base_model`);
  if (method.noBase && baseModel !== undefined) throw new ConfigError(file, 'base_model', `${method.name} takes exactly one model and no base_model`);
  const others = models.filter((m) => m.model !== baseModel);
  if (others.length < method.minModels) throw new ConfigError(file, 'models', `${method.name} needs at least ${method.minModels} model(s) besides the base`);
  if (method.maxModels !== undefined && others.length > method.maxModels) throw new ConfigError(file, 'models', `${method.name} takes ${method.minModels === method.maxModels ? 'exactly' : 'at most'} ${method.maxModels} model${method.maxModels > 1 ? 's' : ''} besides the base, got ${others.length}`);
  const parameters = checkParams(r.parameters, method, false, file, 'parameters');
  for (const p of method.params) {
    if (p.default !== undefined) continue;
    if (p.perModel) {
      others.forEach((m) => {
        if (m.parameters[p.name] === undefined && parameters[p.name] === undefined) throw new ConfigError(file, `models[${models.indexOf(m)}].parameters.${p.name}`, `${method.name} needs '${p.name}' for every model`);
      });
    } else if (parameters[p.name] === undefined) {
      throw new ConfigError(file, `parameters.${p.name}`, `${method.name} needs '${p.name}'`);
    }
  }
  const dtype = r.dtype === undefined ? undefined : parseDtype(r.dtype, file, 'dtype');
  const outDtype = r.out_dtype === undefined ? dtype : parseDtype(r.out_dtype, file, 'out_dtype');
  return withTokenizerSource({ file, method, models, baseModel, parameters, outDtype, dtype }, r.tokenizer_source);
}

/**
 * mergekit's `tokenizer_source`: `base` or one of the models — its tokenizer files are carried
 * into the output unchanged (the vocabularies must already agree; the merged embeddings are not
 * remapped). `union` (vocabulary surgery) is not implemented and refused.
 */
function withTokenizerSource(c: MergeConfig, raw: unknown): MergeConfig {
  if (raw === undefined) return c;
  const where = 'tokenizer_source';
  if (raw === 'union') throw new ConfigError(c.file, where, "'union' (a merged vocabulary, with embeddings remapped) is not implemented; use 'base' or one of the models (its tokenizer is carried unchanged)");
  if (typeof raw !== 'string') throw new ConfigError(c.file, where, `expected 'base' or a model of the config, got ${JSON.stringify(raw)}`);
  if (raw === 'base') {
    if (c.baseModel === undefined) throw new ConfigError(c.file, where, "'base' needs a base_model");
    return { ...c, tokenizerSource: c.baseModel };
  }
  const model = path.resolve(path.dirname(c.file), raw);
  const known = [c.baseModel, ...c.models.map((m) => m.model)].filter((m): m is string => m !== undefined);
  if (!known.includes(model)) throw new ConfigError(c.file, where, `${JSON.stringify(raw)} is not base_model or one of the models`);
  return { ...c, tokenizerSource: model };
}

/**
 * Where a tensor sits in depth, for gradients: its layer index and the layer count, or (slices)
 * `position`, the depth in [0, 1] given directly.
 */
export interface LayerPositions {
  of(name: string): number | undefined;
  count: number;
  position?: (name: string) => number;
}

/** Layer index and count for gradients: from `.layers.N.` / `.h.N.` / `.blocks.N.` in tensor names. */
export function layerInfo(names: readonly string[]): LayerPositions {
  const re = /(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\./;
  let max = -1;
  for (const n of names) {
    const m = re.exec(n);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return { of: (name) => (re.exec(name) ? Number(re.exec(name)![1]) : undefined), count: max + 1 };
}

/**
 * A parameter's value for one tensor. Gradients are interpolated linearly over depth: layer l of
 * L sits at l / (L - 1); tensors outside the layers sit at 0 (embeddings) or 1 (everything after).
 */
export function resolveParam(v: ParamValue, tensor: string, layers: LayerPositions, where: string): number | boolean | string {
  let value: number | boolean | number[];
  if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'object') {
    const hit = (v as { filter?: string; value: number | boolean | number[] }[]).find((c) => c.filter === undefined || tensor.includes(c.filter));
    if (hit === undefined) throw new Error(`${where}: no condition matches tensor '${tensor}' and there is no default (an entry without filter)`);
    value = hit.value;
  } else if (typeof v === 'string') {
    return v;  // a named choice (rescale)
  } else {
    value = v as number | boolean | number[];
  }
  if (!Array.isArray(value)) return value;
  if (value.length === 1) return value[0]!;
  const l = layers.of(tensor);
  const pos = layers.position !== undefined ? layers.position(tensor) : l === undefined ? (/embed|wte|wpe/.test(tensor) ? 0 : 1) : layers.count > 1 ? l / (layers.count - 1) : 0;
  const x = pos * (value.length - 1);
  const i = Math.min(value.length - 2, Math.floor(x));
  return value[i]! + (value[i + 1]! - value[i]!) * (x - i);
}
