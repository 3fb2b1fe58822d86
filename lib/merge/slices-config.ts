/**
 * mergekit's `slices` form of a merge config: `slices: [{sources: [{model, layer_range: [a, b],
 * parameters}], parameters}]`. Each output slice takes layers [a, b) of each source, merges them
 * with `merge_method` (passthrough: one source, copied) and appends them to the output's layers.
 * Checked here: the shape of the YAML and mergekit's own rules (one of models / slices, equal
 * lengths within a slice). Layer counts need the weights and are checked when the merge runs.
 */
import path from 'node:path';

import { ConfigError } from '../evolve/config.js';
import { type MergeConfig, type MergeModel, type MergeSlice, type ParamValue, checkParams, parseDtype } from './config.js';
import type { MergeMethod } from './methods.js';

const SLICE_KEYS = ['sources', 'parameters'];
const SOURCE_KEYS = ['model', 'layer_range', 'parameters'];

/**
 * A slice's own `parameters` may set per-model and global parameters alike (mergekit's
 * ConfigReader looks a name up in the source, then the slice, then the top level).
 */
function sliceParams(raw: unknown, method: MergeMethod, file: string, key: string): Record<string, ParamValue> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, key, 'expected a mapping of parameters');
  const perModel: Record<string, unknown> = {};
  const global: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    (method.params.find((p) => p.name === name)?.perModel === true ? perModel : global)[name] = value;
  }
  return { ...checkParams(global, method, false, file, key), ...checkParams(perModel, method, true, file, key) };
}

function layerRange(raw: unknown, file: string, key: string): [number, number] {
  if (!Array.isArray(raw) || raw.length !== 2 || !raw.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new ConfigError(file, key, `expected [first, end] (two non-negative integers, end exclusive), got ${JSON.stringify(raw)}`);
  }
  // mergekit silently makes no layers of [b, a) with b > a; that is a typo, not a wish, so it is refused.
  // [a, a) is an empty slice, as in mergekit.
  if (raw[1] < raw[0]) throw new ConfigError(file, key, `[${raw[0]}, ${raw[1]}] ends before it starts (end is exclusive: [${raw[1]}, ${raw[0]}] means layers ${raw[1]}..${raw[0] - 1})`);
  return [raw[0], raw[1]];
}

export function validateSlicesConfig(r: Record<string, unknown>, file: string, method: MergeMethod): MergeConfig {
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string) => path.resolve(dir, p);
  if (!Array.isArray(r.slices) || r.slices.length === 0) throw new ConfigError(file, 'slices', 'expected a non-empty list of {sources: [{model, layer_range}]}');
  const baseModel = r.base_model === undefined ? undefined : typeof r.base_model === 'string' ? abs(r.base_model) : (() => { throw new ConfigError(file, 'base_model', 'expected a path'); })();
  if (method.needsBase && baseModel === undefined) throw new ConfigError(file, 'base_model', `${method.name} needs a base_model`);
  if (method.noBase && baseModel !== undefined) throw new ConfigError(file, 'base_model', `${method.name} takes no base_model`);
  if (method.params.some((p) => p.path)) throw new ConfigError(file, 'merge_method', `${method.name} is not implemented with slices (its per-model files are named per model, not per slice); use models`);
  const parameters = checkParams(r.parameters, method, false, file, 'parameters');
  const slices: MergeSlice[] = r.slices.map((s, i) => {
    const key = `slices[${i}]`;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new ConfigError(file, key, 'expected {sources: [{model, layer_range}], parameters}');
    const extra = Object.keys(s).filter((x) => !SLICE_KEYS.includes(x));
    if (extra.length > 0) throw new ConfigError(file, key, `unsupported keys: ${extra.join(', ')} (a slice is {sources, parameters})`);
    const raw = s as Record<string, unknown>;
    if (!Array.isArray(raw.sources) || raw.sources.length === 0) throw new ConfigError(file, `${key}.sources`, 'expected a non-empty list of {model, layer_range}');
    const sources = raw.sources.map((src, j) => {
      const sk = `${key}.sources[${j}]`;
      if (src === null || typeof src !== 'object' || Array.isArray(src)) throw new ConfigError(file, sk, 'expected {model, layer_range, parameters}');
      const e = src as Record<string, unknown>;
      const bad = Object.keys(e).filter((x) => !SOURCE_KEYS.includes(x));
      if (bad.length > 0) throw new ConfigError(file, sk, `unsupported keys: ${bad.join(', ')} (a source is {model, layer_range, parameters})`);
      if (typeof e.model !== 'string' || e.model.length === 0) throw new ConfigError(file, `${sk}.model`, 'expected a path');
      return { model: abs(e.model), layerRange: layerRange(e.layer_range, file, `${sk}.layer_range`), parameters: checkParams(e.parameters, method, true, file, `${sk}.parameters`) };
    });
    const lengths = sources.map((x) => x.layerRange[1] - x.layerRange[0]);
    if (lengths.some((n) => n !== lengths[0])) throw new ConfigError(file, `${key}.sources`, `all sources of a slice must span the same number of layers (as mergekit), got ${lengths.join(', ')}`);
    const slice: MergeSlice = { sources, parameters: sliceParams(raw.parameters, method, file, `${key}.parameters`) };
    checkSliceModels(slice, method, baseModel, parameters, file, key);
    return slice;
  });
  const models: MergeModel[] = [];
  for (const s of slices) for (const src of s.sources) if (!models.some((m) => m.model === src.model)) models.push({ model: src.model, parameters: {} });
  const dtype = r.dtype === undefined ? undefined : parseDtype(r.dtype, file, 'dtype');
  const outDtype = r.out_dtype === undefined ? dtype : parseDtype(r.out_dtype, file, 'out_dtype');
  return { file, method, models, slices, baseModel, parameters, outDtype, dtype };
}

/** The method's model counts and required parameters, per slice (the base is the source that is base_model). */
function checkSliceModels(slice: MergeSlice, method: MergeMethod, baseModel: string | undefined, global: Record<string, ParamValue>, file: string, key: string): void {
  const others = slice.sources.filter((s) => s.model !== baseModel);
  if (method.needsBase && others.length === slice.sources.length) {
    throw new ConfigError(file, `${key}.sources`, `${method.name} needs the base_model (${baseModel}) among each slice's sources, with the layer range to use`);
  }
  if (others.length < method.minModels) throw new ConfigError(file, `${key}.sources`, `${method.name} needs at least ${method.minModels} source(s) besides the base`);
  if (method.maxModels !== undefined && others.length > method.maxModels) {
    throw new ConfigError(file, `${key}.sources`, `${method.name} takes ${method.minModels === method.maxModels ? 'exactly' : 'at most'} ${method.maxModels} source${method.maxModels > 1 ? 's' : ''} per slice${method.name === 'passthrough' ? ' (stack layers by adding slices)' : ' besides the base'}, got ${others.length}`);
  }
  for (const p of method.params) {
    if (p.default !== undefined) continue;
    const has = (params: Record<string, ParamValue>) => params[p.name] !== undefined || slice.parameters[p.name] !== undefined || global[p.name] !== undefined;
    if (p.perModel) {
      others.forEach((s) => {
        if (!has(s.parameters)) throw new ConfigError(file, `${key}.sources[${slice.sources.indexOf(s)}].parameters.${p.name}`, `${method.name} needs '${p.name}' for every source`);
      });
    } else if (!has({})) {
      throw new ConfigError(file, `parameters.${p.name}`, `${method.name} needs '${p.name}' (here, in ${key}.parameters or at the top level)`);
    }
  }
}
