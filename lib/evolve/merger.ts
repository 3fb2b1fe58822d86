/**
 * Evolution with a merger (the paper's "Evolver + merging"): an offspring's fitness is the dev
 * score of merge(population with its target replaced by the offspring), and it is kept when that
 * beats the current merged model. Linear merges are updated incrementally — merged + w_t ·
 * (offspring − target) — so a trial costs one model's worth of memory traffic, not N. The merged
 * model is kept in float32.
 */
import * as k from '../kernels/index.js';
import { MERGE_METHODS, type MergeMethod, type TensorJob } from '../merge/methods.js';
import type { KernelDType } from '../native.js';
import type { WeightSet } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import { SafetensorsWriter } from '../store/writer.js';

export interface MergerConfig {
  method: string;
  /** Per-member weights (default: equal, 1/N). */
  weights?: number[];
  /** Global parameters of the method (scalars), e.g. lambda, density, t. */
  parameters?: Record<string, number | boolean>;
}

async function asF32(w: WeightSet, name: string): Promise<Float32Array> {
  const v = w.view(name);
  if (v instanceof Float32Array) return v;
  const out = k.scratchF32(w.meta(name).elements);
  await k.convert({ src: v as Uint16Array, inDtype: w.meta(name).dtype as KernelDType, out, outDtype: 'F32' });
  return out;
}

export class Merger {
  readonly method: MergeMethod;
  private readonly weights: number[];
  private readonly config: MergerConfig;

  constructor(config: MergerConfig, members: number) {
    const method = MERGE_METHODS[config.method];
    if (method === undefined) throw new Error(`unknown merger method '${config.method}'`);
    this.method = method;
    this.config = config;
    const w = config.weights ?? Array.from({ length: members }, () => 1 / members);
    const sum = w.reduce((a, b) => a + b, 0);
    // linear normalizes by default (mergekit): done once here, so incremental updates use the same weights.
    this.weights = method.name === 'linear' && config.parameters?.normalize !== false && Math.abs(sum) > 1e-8 ? w.map((x) => x / sum) : w;
  }

  /** Writes merge(members) (float32 for computed tensors) to `file`. */
  async full(members: readonly WeightSet[], base: WeightSet | undefined, evolved: readonly string[], file: string): Promise<void> {
    const first = members[0]!;
    const names = first.names();
    const computed = new Set(evolved.filter((n) => isComputeDType(first.meta(n).dtype)));
    const writer = SafetensorsWriter.create(file, { tensors: names.map((n) => (computed.has(n) ? { ...first.meta(n), dtype: 'F32' as const } : first.meta(n))), metadata: { format: 'pt', evolver_merger: this.method.name } });
    try {
      for (const [j, name] of names.entries()) {
        if (!computed.has(name)) {
          writer.write(name, first.chunks(name));
          continue;
        }
        // The mapped tensors themselves when the members share a dtype (the usual case);
        // float32 copies only for a mixed population.
        const all = base ? [...members, base] : [...members];
        const same = all.every((m) => m.meta(name).dtype === first.meta(name).dtype);
        const view = (m: WeightSet) => (same ? Promise.resolve(m.view(name) as Float32Array | Uint16Array) : asF32(m, name));
        const job: TensorJob = {
          name,
          shape: first.meta(name).shape,
          inDtype: same ? (first.meta(name).dtype as KernelDType) : 'F32',
          outDtype: 'F32',
          inputs: await Promise.all(members.map(view)),
          base: base ? await view(base) : undefined,
          out: writer.view(name) as Float32Array,
          global: Object.fromEntries(this.method.params.filter((p) => !p.perModel).map((p) => [p.name, this.config.parameters?.[p.name] ?? p.default!])),
          perModel: members.map((_, i) => Object.fromEntries(this.method.params.filter((p) => p.perModel).map((p) => [p.name, Number(p.name === 'weight' ? this.weights[i] : (this.config.parameters?.[p.name] ?? p.default))]))),
          seed: 0,
          tensorIndex: j,
        };
        await this.method.run(job);
      }
      await writer.commitAsync();
    } catch (err) {
      writer.abort();
      throw err;
    }
  }

  /** Whether a trial's merge can be updated from the current one instead of recomputed. */
  get incremental(): boolean {
    return this.method.name === 'linear';
  }

  /** merged' = merged + w_t (offspring − target), tensor by tensor, into `file`. */
  async update(merged: WeightSet, target: WeightSet, offspring: WeightSet, t: number, evolved: readonly string[], file: string): Promise<void> {
    const names = merged.names();
    const changed = new Set(evolved.filter((n) => merged.meta(n).dtype === 'F32'));
    const writer = SafetensorsWriter.create(file, { tensors: names.map((n) => merged.meta(n)), metadata: { format: 'pt', evolver_merger: this.method.name } });
    try {
      for (const name of names) {
        if (!changed.has(name)) {
          writer.write(name, merged.chunks(name));
          continue;
        }
        const w = this.weights[t]!;
        await k.linear({ inputs: [merged.view(name) as Float32Array, await asF32(offspring, name), await asF32(target, name)], weights: [1, w, -w], inDtype: 'F32', out: writer.view(name) as Float32Array });
      }
      await writer.commitAsync();
    } catch (err) {
      writer.abort();
      throw err;
    }
  }
}
