/**
 * Evolution with a merger (the paper's "Evolver + merging"): an offspring's fitness is the dev
 * score of merge(population with its target replaced by the offspring), and it is kept when that
 * beats the current merged model. Linear merges are updated incrementally — merged + w_t ·
 * (offspring − target) — so a trial costs one model's worth of memory traffic, not N. The merged
 * model is kept in float32.
 *
 * Fisher and RegMean take per-member statistics files (`stats`), computed once from the original
 * models and frozen, as the paper's code does. RegMean is incremental too: the Cholesky factor of
 * the summed Grams is made once per layer, each member's term G~_i W_i is kept, and a trial
 * computes only the offspring's term (lib/merge/regmean.ts); its other tensors are averaged
 * incrementally like the linear merge.
 */
import * as k from '../kernels/index.js';
import { MERGE_METHODS, type MergeMethod, type TensorJob } from '../merge/methods.js';
import { fisherViews } from '../merge/fisher-files.js';
import { NO_FALLBACK, RegmeanLayer, averageInto, f32, layerGrams } from '../merge/regmean.js';
import type { KernelDType } from '../native.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import { isComputeDType } from '../store/dtypes.js';
import { SafetensorsWriter } from '../store/writer.js';

export interface MergerConfig {
  method: string;
  /** Per-member weights (default: equal, 1/N). */
  weights?: number[];
  /** Global parameters of the method (scalars), e.g. lambda, density, t, alpha. */
  parameters?: Record<string, number | boolean>;
  /** fisher / regmean: one statistics file per member (diagonal Fisher / Gram matrices), in member order. */
  stats?: string[];
}

const asF32 = (w: WeightSet, name: string): Promise<Float32Array> => f32(w.view(name) as Float32Array | Uint16Array, w.meta(name).dtype as KernelDType);

/** The plain average of the sets' tensor `name`, in float32 (RegMean's rows that no data reached). */
async function averageOf(sets: readonly WeightSet[], name: string): Promise<Float32Array> {
  const dtype = sets[0]!.meta(name).dtype as KernelDType;
  const same = sets.every((s) => s.meta(name).dtype === dtype);
  const inputs = await Promise.all(sets.map((s) => (same ? Promise.resolve(s.view(name) as Float32Array | Uint16Array) : asF32(s, name))));
  const out = k.scratchF32(sets[0]!.meta(name).elements);
  await averageInto(inputs, same ? dtype : 'F32', out, 'F32');
  return out;
}

export class Merger {
  readonly method: MergeMethod;
  private readonly weights: number[];
  private readonly config: MergerConfig;
  private readonly stats: WeightSet[];
  /** regmean: per linear tensor, its factor and the members' terms (made by the first full()). */
  private readonly layers = new Map<string, RegmeanLayer>();
  /** regmean: members whose term must be recomputed (replaced since it was made). */
  private readonly stale = new Set<number>();
  private prepared = false;
  /** The population prepare() made the layers' terms for; emptied once a member is replaced. */
  private preparedFor: readonly WeightSet[] = [];

  constructor(config: MergerConfig, members: number) {
    const method = MERGE_METHODS[config.method];
    if (method === undefined) throw new Error(`unknown merger method '${config.method}'`);
    this.method = method;
    this.config = config;
    const needsStats = method.params.some((p) => p.path);
    if (needsStats && config.stats?.length !== members) throw new Error(`merger.method ${method.name} needs merger.stats: one statistics file per member (${members}), got ${config.stats?.length ?? 0}`);
    this.stats = [];
    try {
      for (const f of needsStats ? config.stats! : []) this.stats.push(openWeights(f));
    } catch (err) {
      this.close();
      throw err;
    }
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
          global: this.global(),
          perModel: members.map((_, i) => Object.fromEntries(this.method.params.filter((p) => p.perModel && !p.path).map((p) => [p.name, Number(p.name === 'weight' ? this.weights[i] : (this.config.parameters?.[p.name] ?? p.default))]))),
          seed: 0,
          tensorIndex: j,
          ...(this.method.name === 'fisher' ? { fisher: fisherViews(this.stats, name, first.meta(name).elements) } : {}),
        };
        if (this.method.name === 'regmean') await this.regmeanFull(name, job, members);
        else await this.method.run(job);
      }
      await writer.commitAsync();
    } catch (err) {
      writer.abort();
      throw err;
    }
  }

  private global(): Record<string, number | boolean> {
    return Object.fromEntries(this.method.params.filter((p) => !p.perModel).map((p) => [p.name, this.config.parameters?.[p.name] ?? p.default!]));
  }

  /**
   * RegMean of one tensor: from the layers prepare() made when `members` is that population (no
   * member replaced since), else from scratch (the cached layers are left as they are).
   */
  private async regmeanFull(name: string, job: TensorJob, members: readonly WeightSet[]): Promise<void> {
    const prepared = members.length === this.preparedFor.length && members.every((m, i) => m === this.preparedFor[i]);
    const layer = (prepared ? this.layers.get(name) : undefined) ?? (await this.layerFor(name, members));
    if (layer === undefined) return this.method.run(job);  // not a linear layer: the average
    await layer.solve(layer.needsFallback ? await averageOf(members, name) : NO_FALLBACK, job.out as Float32Array);
  }

  /** A linear layer's factor and the members' terms; undefined when `name` is not a linear layer. */
  private async layerFor(name: string, members: readonly WeightSet[]): Promise<RegmeanLayer | undefined> {
    const grams = layerGrams(this.stats, name, members[0]!.meta(name).shape);
    if (grams === undefined) return undefined;
    const layer = await RegmeanLayer.create(grams, Number(this.global().alpha));
    for (const [i, m] of members.entries()) await layer.setMember(i, m.view(name) as Float32Array | Uint16Array, m.meta(name).dtype as KernelDType);
    return layer;
  }

  /**
   * regmean: makes each linear layer's factor and the terms of `members` (the population), which
   * update() then reuses. Called once before the first trial, fresh or resumed; other methods
   * keep nothing.
   */
  async prepare(members: readonly WeightSet[], evolved: readonly string[]): Promise<void> {
    if (this.method.name !== 'regmean' || this.prepared) return;
    for (const name of evolved) {
      if (!isComputeDType(members[0]!.meta(name).dtype)) continue;
      const layer = await this.layerFor(name, members);
      if (layer !== undefined) this.layers.set(name, layer);
    }
    this.prepared = true;
    this.preparedFor = [...members];
  }

  /** Whether a trial's merge can be updated from the current one instead of recomputed. */
  get incremental(): boolean {
    return this.method.name === 'linear' || this.method.name === 'regmean';
  }

  /** Member `t` was replaced (its offspring accepted): its RegMean term is remade at the next update. */
  memberReplaced(t: number): void {
    if (this.method.name === 'regmean') this.stale.add(t);
    this.preparedFor = [];
  }

  /**
   * The merge of `members` with member t replaced by `offspring`, from the current one, into
   * `file`: linear, merged + w_t (offspring − members[t]); regmean, the offspring's term and a
   * solve for linear layers, the linear update (w_t = 1/N) for the rest.
   */
  async update(merged: WeightSet, members: readonly WeightSet[], offspring: WeightSet, t: number, evolved: readonly string[], file: string): Promise<void> {
    const names = merged.names();
    const changed = new Set(evolved.filter((n) => merged.meta(n).dtype === 'F32'));
    const target = members[t]!;
    if (this.method.name === 'regmean' && !this.prepared) throw new Error('Merger.update: a regmean merger needs prepare(population) first');
    const writer = SafetensorsWriter.create(file, { tensors: names.map((n) => merged.meta(n)), metadata: { format: 'pt', evolver_merger: this.method.name } });
    try {
      for (const name of names) {
        if (!changed.has(name)) {
          writer.write(name, merged.chunks(name));
          continue;
        }
        const out = writer.view(name) as Float32Array;
        const layer = this.layers.get(name);
        if (layer === undefined) {
          const w = this.method.name === 'linear' ? this.weights[t]! : 1 / members.length;
          await k.linear({ inputs: [merged.view(name) as Float32Array, await asF32(offspring, name), await asF32(target, name)], weights: [1, w, -w], inDtype: 'F32', out });
          continue;
        }
        // A linear layer: from the members' terms (the stale ones remade) and the offspring's; rows
        // no data reached take the members' plain average, computed from them, so the layer
        // equals a merge from scratch bit for bit.
        for (const i of this.stale) await layer.setMember(i, members[i]!.view(name) as Float32Array | Uint16Array, members[i]!.meta(name).dtype as KernelDType);
        await layer.setTrial(t, offspring.view(name) as Float32Array | Uint16Array, offspring.meta(name).dtype as KernelDType);
        // (The average reads every member: made only for layers with such rows.)
        await layer.solve(layer.needsFallback ? await averageOf(members.map((m, i) => (i === t ? offspring : m)), name) : NO_FALLBACK, out);
      }
      this.stale.clear();
      await writer.commitAsync();
    } catch (err) {
      writer.abort();
      throw err;
    }
  }

  close(): void {
    for (const s of this.stats) s.close();
  }
}
