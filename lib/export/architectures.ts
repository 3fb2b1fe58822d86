/**
 * What llama.cpp expects of each architecture, as data: one entry per architecture, not code
 * paths. An entry says which config.json classes it covers, which hyper-parameters it reads,
 * which GGUF keys it writes, and how each Hugging Face tensor becomes a llama.cpp tensor (name,
 * expected HF shape, and the rearrangement: GPT-2's Conv1D weights are stored [in, out] and
 * llama.cpp wants [out, in]; Llama's q/k rows are permuted for llama.cpp's rope layout).
 * Names and keys follow llama.cpp's gguf-py (constants.py, tensor_mapping.py) and
 * convert_hf_to_gguf.py.
 */

/** Hyper-parameters read from config.json (every export reads these names). */
export interface HParams {
  vocab: number;
  context: number;
  embd: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ff: number;
  eps: number;
  ropeTheta: number;
}

export interface HParamRule {
  name: keyof HParams;
  /** config.json keys tried in order. */
  keys: readonly string[];
  kind: 'int' | 'float';
  /** Used when no key is present; absent = required. */
  fallback?: (h: Partial<HParams>) => number | undefined;
}

/** How tensor data is rearranged on the way to GGUF. */
export type Rearrange = 'none' | 'transpose' | 'permute-q' | 'permute-k';

export interface TensorRule {
  /** Hugging Face name; `{i}` stands for the block index. */
  hf: string;
  /** llama.cpp name; `{i}` likewise. */
  gguf: string;
  /** The Hugging Face shape (outermost first) config.json implies; names the keys it comes from. */
  shape: (h: HParams) => number[];
  from: string;
  rearrange?: Rearrange;
  /** Missing is fine (e.g. lm_head when the embeddings are tied: llama.cpp reuses token_embd). */
  optional?: boolean;
}

export type KVType = 'uint32' | 'float32';

export interface Architecture {
  /** general.architecture, and the prefix of its keys. */
  name: string;
  /** config.json `architectures[0]` values and `model_type` values it covers. */
  classes: readonly string[];
  modelTypes: readonly string[];
  hparams: readonly HParamRule[];
  /** Architecture keys (without the `<name>.` prefix), from the hyper-parameters. */
  kv: readonly [string, KVType, (h: HParams) => number][];
  tensors: readonly TensorRule[];
  /** HF tensors that are buffers, not weights, and are not exported. */
  ignore: readonly RegExp[];
  /** tokenizer.ggml.pre for a byte-level BPE tokenizer of this family (llama.cpp's pre-tokenizer name). */
  bpePre: string;
}

const int = (name: keyof HParams, keys: string[], fallback?: HParamRule['fallback']): HParamRule => ({ name, keys, kind: 'int', ...(fallback ? { fallback } : {}) });
const float = (name: keyof HParams, keys: string[], fallback?: HParamRule['fallback']): HParamRule => ({ name, keys, kind: 'float', ...(fallback ? { fallback } : {}) });

const GPT2: Architecture = {
  name: 'gpt2',
  classes: ['GPT2LMHeadModel'],
  modelTypes: ['gpt2'],
  hparams: [
    int('vocab', ['vocab_size']),
    int('context', ['n_positions', 'n_ctx']),
    int('embd', ['n_embd']),
    int('layers', ['n_layer']),
    int('heads', ['n_head']),
    int('kvHeads', [], (h) => h.heads),
    int('headDim', [], (h) => (h.embd !== undefined && h.heads ? h.embd / h.heads : undefined)),
    // transformers: n_inner null means 4 * n_embd.
    int('ff', ['n_inner'], (h) => (h.embd === undefined ? undefined : 4 * h.embd)),
    float('eps', ['layer_norm_epsilon'], () => 1e-5),
    float('ropeTheta', [], () => 0),
  ],
  kv: [
    ['context_length', 'uint32', (h) => h.context],
    ['embedding_length', 'uint32', (h) => h.embd],
    ['feed_forward_length', 'uint32', (h) => h.ff],
    ['block_count', 'uint32', (h) => h.layers],
    ['attention.head_count', 'uint32', (h) => h.heads],
    ['attention.layer_norm_epsilon', 'float32', (h) => h.eps],
  ],
  tensors: [
    { hf: 'transformer.wte.weight', gguf: 'token_embd.weight', shape: (h) => [h.vocab, h.embd], from: 'vocab_size, n_embd' },
    { hf: 'transformer.wpe.weight', gguf: 'position_embd.weight', shape: (h) => [h.context, h.embd], from: 'n_positions, n_embd' },
    { hf: 'transformer.h.{i}.ln_1.weight', gguf: 'blk.{i}.attn_norm.weight', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'transformer.h.{i}.ln_1.bias', gguf: 'blk.{i}.attn_norm.bias', shape: (h) => [h.embd], from: 'n_embd' },
    // Conv1D stores [in, out]: transposed to llama.cpp's [out, in].
    { hf: 'transformer.h.{i}.attn.c_attn.weight', gguf: 'blk.{i}.attn_qkv.weight', shape: (h) => [h.embd, 3 * h.embd], from: 'n_embd', rearrange: 'transpose' },
    { hf: 'transformer.h.{i}.attn.c_attn.bias', gguf: 'blk.{i}.attn_qkv.bias', shape: (h) => [3 * h.embd], from: 'n_embd' },
    { hf: 'transformer.h.{i}.attn.c_proj.weight', gguf: 'blk.{i}.attn_output.weight', shape: (h) => [h.embd, h.embd], from: 'n_embd', rearrange: 'transpose' },
    { hf: 'transformer.h.{i}.attn.c_proj.bias', gguf: 'blk.{i}.attn_output.bias', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'transformer.h.{i}.ln_2.weight', gguf: 'blk.{i}.ffn_norm.weight', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'transformer.h.{i}.ln_2.bias', gguf: 'blk.{i}.ffn_norm.bias', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'transformer.h.{i}.mlp.c_fc.weight', gguf: 'blk.{i}.ffn_up.weight', shape: (h) => [h.embd, h.ff], from: 'n_embd, n_inner', rearrange: 'transpose' },
    { hf: 'transformer.h.{i}.mlp.c_fc.bias', gguf: 'blk.{i}.ffn_up.bias', shape: (h) => [h.ff], from: 'n_inner' },
    { hf: 'transformer.h.{i}.mlp.c_proj.weight', gguf: 'blk.{i}.ffn_down.weight', shape: (h) => [h.ff, h.embd], from: 'n_inner, n_embd', rearrange: 'transpose' },
    { hf: 'transformer.h.{i}.mlp.c_proj.bias', gguf: 'blk.{i}.ffn_down.bias', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'transformer.ln_f.weight', gguf: 'output_norm.weight', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'transformer.ln_f.bias', gguf: 'output_norm.bias', shape: (h) => [h.embd], from: 'n_embd' },
    { hf: 'lm_head.weight', gguf: 'output.weight', shape: (h) => [h.vocab, h.embd], from: 'vocab_size, n_embd', optional: true },
  ],
  ignore: [/^transformer\.h\.\d+\.attn\.(masked_)?bias$/],
  bpePre: 'gpt-2',
};

/** Llama's hyper-parameters (Mistral and Qwen2 use the same config.json names). */
const LLAMA_HPARAMS: readonly HParamRule[] = [
  int('vocab', ['vocab_size']),
  int('context', ['max_position_embeddings']),
  int('embd', ['hidden_size']),
  int('layers', ['num_hidden_layers']),
  int('heads', ['num_attention_heads']),
  int('kvHeads', ['num_key_value_heads'], (h) => h.heads),
  int('headDim', ['head_dim'], (h) => (h.embd !== undefined && h.heads ? h.embd / h.heads : undefined)),
  int('ff', ['intermediate_size']),
  float('eps', ['rms_norm_eps'], () => 1e-6),
  float('ropeTheta', ['rope_theta'], () => 10000),
];

const LLAMA_KV: Architecture['kv'] = [
  ['vocab_size', 'uint32', (h) => h.vocab],
  ['context_length', 'uint32', (h) => h.context],
  ['embedding_length', 'uint32', (h) => h.embd],
  ['feed_forward_length', 'uint32', (h) => h.ff],
  ['block_count', 'uint32', (h) => h.layers],
  ['attention.head_count', 'uint32', (h) => h.heads],
  ['attention.head_count_kv', 'uint32', (h) => h.kvHeads],
  ['attention.key_length', 'uint32', (h) => h.headDim],
  ['attention.value_length', 'uint32', (h) => h.headDim],
  ['rope.dimension_count', 'uint32', (h) => h.headDim],
  ['rope.freq_base', 'float32', (h) => h.ropeTheta],
  ['attention.layer_norm_rms_epsilon', 'float32', (h) => h.eps],
];

function llamaTensors(opts: { permute: boolean; qkvBias: boolean }): TensorRule[] {
  const q = opts.permute ? { rearrange: 'permute-q' as const } : {};
  const k = opts.permute ? { rearrange: 'permute-k' as const } : {};
  const p = 'model.layers.{i}';
  const rules: TensorRule[] = [
    { hf: 'model.embed_tokens.weight', gguf: 'token_embd.weight', shape: (h) => [h.vocab, h.embd], from: 'vocab_size, hidden_size' },
    { hf: `${p}.input_layernorm.weight`, gguf: 'blk.{i}.attn_norm.weight', shape: (h) => [h.embd], from: 'hidden_size' },
    { hf: `${p}.self_attn.q_proj.weight`, gguf: 'blk.{i}.attn_q.weight', shape: (h) => [h.heads * h.headDim, h.embd], from: 'num_attention_heads, head_dim, hidden_size', ...q },
    { hf: `${p}.self_attn.k_proj.weight`, gguf: 'blk.{i}.attn_k.weight', shape: (h) => [h.kvHeads * h.headDim, h.embd], from: 'num_key_value_heads, head_dim, hidden_size', ...k },
    { hf: `${p}.self_attn.v_proj.weight`, gguf: 'blk.{i}.attn_v.weight', shape: (h) => [h.kvHeads * h.headDim, h.embd], from: 'num_key_value_heads, head_dim, hidden_size' },
    { hf: `${p}.self_attn.o_proj.weight`, gguf: 'blk.{i}.attn_output.weight', shape: (h) => [h.embd, h.heads * h.headDim], from: 'hidden_size, num_attention_heads, head_dim' },
    { hf: `${p}.post_attention_layernorm.weight`, gguf: 'blk.{i}.ffn_norm.weight', shape: (h) => [h.embd], from: 'hidden_size' },
    { hf: `${p}.mlp.gate_proj.weight`, gguf: 'blk.{i}.ffn_gate.weight', shape: (h) => [h.ff, h.embd], from: 'intermediate_size, hidden_size' },
    { hf: `${p}.mlp.up_proj.weight`, gguf: 'blk.{i}.ffn_up.weight', shape: (h) => [h.ff, h.embd], from: 'intermediate_size, hidden_size' },
    { hf: `${p}.mlp.down_proj.weight`, gguf: 'blk.{i}.ffn_down.weight', shape: (h) => [h.embd, h.ff], from: 'hidden_size, intermediate_size' },
    { hf: 'model.norm.weight', gguf: 'output_norm.weight', shape: (h) => [h.embd], from: 'hidden_size' },
    { hf: 'lm_head.weight', gguf: 'output.weight', shape: (h) => [h.vocab, h.embd], from: 'vocab_size, hidden_size', optional: true },
  ];
  if (opts.qkvBias) {
    rules.push(
      { hf: `${p}.self_attn.q_proj.bias`, gguf: 'blk.{i}.attn_q.bias', shape: (h) => [h.heads * h.headDim], from: 'num_attention_heads, head_dim', ...q },
      { hf: `${p}.self_attn.k_proj.bias`, gguf: 'blk.{i}.attn_k.bias', shape: (h) => [h.kvHeads * h.headDim], from: 'num_key_value_heads, head_dim', ...k },
      { hf: `${p}.self_attn.v_proj.bias`, gguf: 'blk.{i}.attn_v.bias', shape: (h) => [h.kvHeads * h.headDim], from: 'num_key_value_heads, head_dim' },
    );
  }
  return rules;
}

const LLAMA: Architecture = {
  name: 'llama',
  // Mistral is llama-shaped: llama.cpp loads it as llama (convert_hf_to_gguf.py does the same).
  classes: ['LlamaForCausalLM', 'MistralForCausalLM'],
  modelTypes: ['llama', 'mistral'],
  hparams: LLAMA_HPARAMS,
  kv: LLAMA_KV,
  // llama.cpp applies rope to adjacent pairs, HF to the two halves of each head: permuted.
  tensors: llamaTensors({ permute: true, qkvBias: false }),
  ignore: [/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/],
  bpePre: 'llama-bpe',
};

const QWEN2: Architecture = {
  name: 'qwen2',
  classes: ['Qwen2ForCausalLM'],
  modelTypes: ['qwen2'],
  hparams: LLAMA_HPARAMS,
  kv: LLAMA_KV,
  // llama.cpp runs qwen2 with NEOX-style rope, which is HF's own layout: no permutation.
  tensors: llamaTensors({ permute: false, qkvBias: true }),
  ignore: [/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/],
  bpePre: 'qwen2',
};

export const ARCHITECTURES: readonly Architecture[] = [GPT2, LLAMA, QWEN2];

/** The entry for a config.json: by `architectures[0]`, else by `model_type`. */
export function findArchitecture(config: { architectures?: unknown; model_type?: unknown }): Architecture | undefined {
  const cls = Array.isArray(config.architectures) ? config.architectures[0] : undefined;
  if (typeof cls === 'string') {
    const byClass = ARCHITECTURES.find((a) => a.classes.includes(cls));
    if (byClass !== undefined) return byClass;
  }
  return typeof config.model_type === 'string' ? ARCHITECTURES.find((a) => a.modelTypes.includes(config.model_type as string)) : undefined;
}

export function knownArchitectures(): string {
  return ARCHITECTURES.map((a) => `${a.name} (${a.classes.join(', ')})`).join('; ');
}
