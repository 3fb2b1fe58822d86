/**
 * Synthetic Llama-shaped populations for `bench/scale.ts`: a shape that hits a parameter count,
 * the Hugging Face tensor names and shapes of that shape, and members written as sharded bf16
 * checkpoints (model-0000i-of-0000n.safetensors + model.safetensors.index.json + config.json)
 * through the package's own writer. Values are deterministic pseudo-random bf16: a base shared
 * by all members plus member-specific noise in the low mantissa bits, filled by a JS xorshift
 * straight into the mapped output (about a second per GB, most of it the page faults).
 */
import fs from 'node:fs';
import path from 'node:path';

import { INDEX_NAME } from '../store/checkpoint.js';
import { shardName, writeFileAtomic } from '../store/write-checkpoint.js';
import { SafetensorsWriter } from '../store/writer.js';

export interface LlamaShape {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  /** Exact parameter count of this shape. */
  params: number;
}

export interface ScaleTensor {
  name: string;
  shape: [number] | [number, number];
  /** RMSNorm weights: values near 1 (the others are small, like trained projections). */
  norm: boolean;
}

const HIDDEN = [64, 128, 256, 512, 768, 1024, 1536, 2048, 2560, 3072, 4096, 5120, 6144, 8192];

/** Parameters of a Llama with these dimensions (untied lm_head, GQA, SwiGLU MLP, RMSNorms). */
export function llamaParams(s: Omit<LlamaShape, 'params'>): number {
  const kvDim = s.kvHeads * s.headDim;
  const perLayer = 2 * s.hidden * s.hidden + 2 * kvDim * s.hidden + 3 * s.hidden * s.intermediate + 2 * s.hidden;
  return 2 * s.vocab * s.hidden + s.hidden + s.layers * perLayer;
}

function dimsFor(hidden: number, vocab: number): Omit<LlamaShape, 'params' | 'layers'> {
  const headDim = hidden >= 4096 ? 128 : Math.min(64, hidden);
  const heads = hidden / headDim;
  const kvHeads = heads % 4 === 0 ? heads / 4 : heads;
  // Llama's rule: 2/3 of 4h, rounded up to a multiple of 256 (TinyLlama: 2048 -> 5632).
  const intermediate = Math.ceil((8 * hidden) / 3 / 256) * 256;
  return { hidden, intermediate, heads, kvHeads, headDim, vocab };
}

/**
 * The Llama shape closest to `params` parameters: for each hidden size the layer count that
 * hits the target, choosing the hidden size whose depth is most Llama-like (layers ~ hidden / 128,
 * as Llama 2 7B and 13B) among those within a few percent of the target. Vocabulary 32000 (Llama 2),
 * smaller only for toy sizes (under ~50M parameters) where the embeddings alone would exceed it.
 */
export function llamaShape(params: number): LlamaShape {
  if (!(params > 0) || !Number.isFinite(params)) throw new RangeError(`llamaShape: params must be a positive number, got ${params}`);
  let best: { shape: LlamaShape; cost: number } | undefined;
  for (const vocab of [32000, 8192, 2048, 512]) {
    for (const hidden of HIDDEN) {
      const d = dimsFor(hidden, vocab);
      const perLayer = llamaParams({ ...d, layers: 1 }) - llamaParams({ ...d, layers: 0 });
      const layers = Math.max(1, Math.round((params - llamaParams({ ...d, layers: 0 })) / perLayer));
      const shape = { ...d, layers, params: llamaParams({ ...d, layers }) };
      const miss = Math.abs(Math.log(shape.params / params));
      const depth = Math.abs(Math.log((layers * 128) / hidden));
      // A miss of 1% costs like a depth ratio off by e^0.1; a smaller vocabulary costs extra.
      const cost = 10 * miss + depth + (vocab === 32000 ? 0 : 2 + Math.log(32000 / vocab));
      if (best === undefined || cost < best.cost) best = { shape, cost };
    }
  }
  return best!.shape;
}

/** The tensors of a Llama checkpoint in module order (Hugging Face names; Linear weights are [out, in]). */
export function llamaTensors(s: LlamaShape): ScaleTensor[] {
  const h = s.hidden, kv = s.kvHeads * s.headDim, i = s.intermediate;
  const t: ScaleTensor[] = [{ name: 'model.embed_tokens.weight', shape: [s.vocab, h], norm: false }];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    t.push(
      { name: `${p}.self_attn.q_proj.weight`, shape: [h, h], norm: false },
      { name: `${p}.self_attn.k_proj.weight`, shape: [kv, h], norm: false },
      { name: `${p}.self_attn.v_proj.weight`, shape: [kv, h], norm: false },
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, h], norm: false },
      { name: `${p}.mlp.gate_proj.weight`, shape: [i, h], norm: false },
      { name: `${p}.mlp.up_proj.weight`, shape: [i, h], norm: false },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, i], norm: false },
      { name: `${p}.input_layernorm.weight`, shape: [h], norm: true },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h], norm: true },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [h], norm: true }, { name: 'lm_head.weight', shape: [s.vocab, h], norm: false });
  return t;
}

export const elementsOf = (t: ScaleTensor) => t.shape.reduce((a, b) => a * b, 1);

/** A transformers config.json for the shape (LlamaForCausalLM, bf16). */
export function llamaConfig(s: LlamaShape): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    head_dim: s.headDim,
    vocab_size: s.vocab,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    attention_bias: false,
    torch_dtype: 'bfloat16',
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

/** Tensors (in module order) grouped into shards of at most `maxShardBytes` (a larger tensor gets its own). */
export function shardGroups(tensors: readonly ScaleTensor[], maxShardBytes: number): ScaleTensor[][] {
  const groups: ScaleTensor[][] = [];
  let current: ScaleTensor[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const n = elementsOf(t) * 2;
    if (current.length > 0 && bytes + n > maxShardBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += n;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Default shard budget: 512 MiB, but at least two shards and never smaller than the largest tensor. */
export function defaultShardBytes(tensors: readonly ScaleTensor[]): number {
  const total = tensors.reduce((n, t) => n + elementsOf(t) * 2, 0);
  const largest = Math.max(...tensors.map((t) => elementsOf(t) * 2));
  return Math.max(largest, Math.min(512 * 2 ** 20, Math.ceil(total / 2)));
}

const mix = (x: number) => {
  // A 32-bit integer hash (lowbias32); never returns 0 for the xorshift state below.
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  x ^= x >>> 16;
  return (x >>> 0) || 0x9e3779b9;
};

/**
 * Fills `bytes` (a tensor's bf16 data, or a piece of it) with deterministic values: base bits
 * from a xorshift seeded by the tensor (the same in every member), then the low 4 mantissa
 * bits flipped by a second xorshift seeded by (member, tensor) — a relative difference of up
 * to 12% between members. Projections get |x| in [2^-8, 2^-4) with a random sign, norms [1, 2).
 */
export function fillBf16(bytes: Uint8Array, tensorSeed: number, memberSeed: number, norm: boolean): void {
  let s = mix(tensorSeed);
  let m = mix(memberSeed * 0x9e3779b1 + tensorSeed);
  const words = bytes.byteOffset % 4 === 0 ? Math.floor(bytes.byteLength / 4) : 0;
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  if (norm) {
    for (let i = 0; i < words; i++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      m ^= m << 13; m ^= m >>> 17; m ^= m << 5;
      w[i] = ((s & 0x007f007f) | 0x3f803f80) ^ (m & 0x000f000f);
    }
  } else {
    for (let i = 0; i < words; i++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
      m ^= m << 13; m ^= m >>> 17; m ^= m << 5;
      // Per 16-bit half: the sign bit, exponent 119..122 (2^-8 .. 2^-5), 7 random mantissa bits.
      w[i] = ((s & 0x807f807f) | ((((s >>> 7) & 0x00030003) + 0x00770077) << 7)) ^ (m & 0x000f000f);
    }
  }
  // An odd tail (or an unaligned piece): element by element.
  for (let at = words * 4; at + 1 < bytes.byteLength; at += 2) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    m ^= m << 13; m ^= m >>> 17; m ^= m << 5;
    const v = norm ? ((s & 0x7f) | 0x3f80) ^ (m & 0xf) : ((s & 0x807f) | ((((s >>> 7) & 3) + 0x77) << 7)) ^ (m & 0xf);
    bytes[at] = v & 0xff;
    bytes[at + 1] = v >>> 8;
  }
}

export interface PopulationSpec {
  shape: LlamaShape;
  members: number;
  /** Varies every member's values (default 1). */
  seed?: number;
  maxShardBytes?: number;
}

export interface WrittenPopulation {
  folders: string[];
  shards: number;
  modelBytes: number;
  seconds: number;
}

const MANIFEST = 'scale-population.json';

/** The population's description (what a kept folder must match to be reused). */
function manifestOf(spec: PopulationSpec, shards: number): Record<string, unknown> {
  return { format: 'evolver-scale-population/1', shape: spec.shape, members: spec.members, seed: spec.seed ?? 1, maxShardBytes: spec.maxShardBytes ?? null, shards };
}

/** True when `dir` holds a complete population written for exactly this spec (a kept `--dir`). */
export function populationMatches(dir: string, spec: PopulationSpec): boolean {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as Record<string, unknown>;
    return JSON.stringify(m) === JSON.stringify(manifestOf(spec, m.shards as number));
  } catch {
    return false;
  }
}

export function memberFolder(dir: string, i: number): string {
  return path.join(dir, `member-${i}`);
}

/**
 * Writes `members` checkpoints into dir/member-<i>/ (config.json, shards, index), each shard
 * through SafetensorsWriter (mapped, filled in place, flushed, renamed), then the manifest.
 * `onMember` is called after each member with its seconds.
 */
export function writePopulation(dir: string, spec: PopulationSpec, onMember?: (i: number, seconds: number) => void): WrittenPopulation {
  const t0 = performance.now();
  const tensors = llamaTensors(spec.shape);
  const groups = shardGroups(tensors, spec.maxShardBytes ?? defaultShardBytes(tensors));
  const seedOf = new Map(tensors.map((t, j) => [t.name, j + 1]));
  const modelBytes = tensors.reduce((n, t) => n + elementsOf(t) * 2, 0);
  const folders: string[] = [];
  fs.rmSync(path.join(dir, MANIFEST), { force: true });
  for (let i = 0; i < spec.members; i++) {
    const m0 = performance.now();
    const folder = memberFolder(dir, i);
    fs.rmSync(folder, { recursive: true, force: true });
    fs.mkdirSync(folder, { recursive: true });
    const weightMap: Record<string, string> = {};
    groups.forEach((group, g) => {
      const name = shardName(g, groups.length);
      const writer = SafetensorsWriter.create(path.join(folder, name), { tensors: group.map((t) => ({ name: t.name, dtype: 'BF16' as const, shape: t.shape })), metadata: { format: 'pt' } });
      try {
        for (const t of group) {
          for (const piece of writer.chunks(t.name)) fillBf16(piece, seedOf.get(t.name)!, (spec.seed ?? 1) * 1000 + i, t.norm);
          weightMap[t.name] = name;
        }
        writer.checkIntact();
        writer.commit();
      } catch (err) {
        writer.abort();
        throw err;
      }
    });
    const index = { metadata: { total_size: modelBytes }, weight_map: Object.fromEntries(Object.entries(weightMap).sort()) };
    writeFileAtomic(path.join(folder, INDEX_NAME), JSON.stringify(index, null, 2) + '\n');
    writeFileAtomic(path.join(folder, 'config.json'), JSON.stringify(llamaConfig(spec.shape), null, 2) + '\n');
    folders.push(folder);
    onMember?.(i, (performance.now() - m0) / 1000);
  }
  writeFileAtomic(path.join(dir, MANIFEST), JSON.stringify(manifestOf(spec, groups.length), null, 2) + '\n');
  return { folders, shards: groups.length, modelBytes, seconds: (performance.now() - t0) / 1000 };
}

/** The folders of a population already in `dir` (see populationMatches). */
export function existingPopulation(dir: string, spec: PopulationSpec): WrittenPopulation {
  const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as { shards: number };
  const modelBytes = llamaTensors(spec.shape).reduce((n, t) => n + elementsOf(t) * 2, 0);
  return { folders: Array.from({ length: spec.members }, (_, i) => memberFolder(dir, i)), shards: m.shards, modelBytes, seconds: 0 };
}
