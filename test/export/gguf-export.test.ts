import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { ExportError } from '../../lib/errors.js';
import { findArchitecture } from '../../lib/export/architectures.js';
import { exportGguf, exportHooks } from '../../lib/export/gguf-export.js';
import { byteToUnicode } from '../../lib/export/tokenizer.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { GgufFile } from '../../lib/store/gguf.js';
import type { GgufArray } from '../../lib/store/gguf-header.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';
import { writeCheckpoint } from '../../lib/store/write-checkpoint.js';
import { BF16_BASE, F32_BASE, FORTUNES, ROOT, assertWeightError, tempDir } from '../helpers.js';

const CONFIG = path.join(FORTUNES, 'config.json');

/** Bits of a tensor as 16- or 32-bit words. */
function bits(view: ArrayBufferView): Uint16Array | Uint32Array {
  return view instanceof Uint16Array ? view : new Uint32Array(view.buffer, view.byteOffset, view.byteLength / 4);
}

/** [rows, cols] -> [cols, rows], written out plainly. */
function transposed<T extends Uint16Array | Uint32Array>(a: T, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out.push(a[r * cols + c]!);
  return out;
}

/**
 * convert_hf_to_gguf.py's permute in numpy terms: w.reshape(n_head, 2, R // n_head // 2, C)
 * .swapaxes(1, 2).reshape(R, C), done on nested arrays.
 */
function numpyPermute(w: Float32Array, R: number, C: number, nHead: number): number[] {
  const half = R / nHead / 2;
  const rows = Array.from({ length: R }, (_, r) => [...w.subarray(r * C, r * C + C)]);
  const grid = Array.from({ length: nHead }, (_, h) => [0, 1].map((a) => Array.from({ length: half }, (_, b) => rows[(h * 2 + a) * half + b]!)));
  const swapped = grid.map((g) => Array.from({ length: half }, (_, b) => [0, 1].map((a) => g[a]![b]!)));
  return swapped.flat(3) as number[];
}

const kvValue = (g: GgufFile, key: string) => g.value(key);
const arrayItems = (g: GgufFile, key: string) => (g.value(key) as GgufArray).items;

function gpt2Map(name: string): { gguf: string; transpose: boolean } {
  const m = /^transformer\.h\.(\d+)\.(.+)$/.exec(name);
  const table: Record<string, string> = {
    'ln_1.weight': 'attn_norm.weight', 'ln_1.bias': 'attn_norm.bias', 'attn.c_attn.weight': 'attn_qkv.weight', 'attn.c_attn.bias': 'attn_qkv.bias',
    'attn.c_proj.weight': 'attn_output.weight', 'attn.c_proj.bias': 'attn_output.bias', 'ln_2.weight': 'ffn_norm.weight', 'ln_2.bias': 'ffn_norm.bias',
    'mlp.c_fc.weight': 'ffn_up.weight', 'mlp.c_fc.bias': 'ffn_up.bias', 'mlp.c_proj.weight': 'ffn_down.weight', 'mlp.c_proj.bias': 'ffn_down.bias',
  };
  if (m) return { gguf: `blk.${m[1]}.${table[m[2]!]}`, transpose: m[2]!.endsWith('.weight') && !m[2]!.startsWith('ln_') };
  return { gguf: { 'transformer.wte.weight': 'token_embd.weight', 'transformer.wpe.weight': 'position_embd.weight', 'transformer.ln_f.weight': 'output_norm.weight', 'transformer.ln_f.bias': 'output_norm.bias' }[name]!, transpose: false };
}

describe('evolver export gguf: the bundled GPT-2 fixtures', () => {
  const dir = tempDir('evolver-export-');

  it('f32: every tensor renamed, Conv1D weights transposed, values bit-exact, gpt2 keys from config.json', async () => {
    const out = path.join(dir, 'base-f32.gguf');
    const r = await exportGguf(F32_BASE, out, { config: CONFIG });
    assert.equal(r.architecture, 'gpt2');
    using g = GgufFile.open(out);
    using src = openWeights(F32_BASE);
    assert.equal(g.names().length, src.names().length);
    assert.ok(!g.has('output.weight'), 'tied embeddings: llama.cpp reuses token_embd');
    let transposedCount = 0;
    for (const name of src.names()) {
      const { gguf, transpose } = gpt2Map(name);
      const m = src.meta(name);
      const info = g.info(gguf);
      assert.equal(info.ggmlType, 'F32', gguf);
      const a = bits(src.view(name));
      const b = bits(g.view(gguf));
      if (transpose) {
        transposedCount++;
        assert.deepEqual(info.shape, [m.shape[1], m.shape[0]], gguf);
        assert.deepEqual([...b], transposed(a, m.shape[0]!, m.shape[1]!), gguf);
      } else {
        assert.deepEqual(info.shape, m.shape, gguf);
        assert.deepEqual(b, a, gguf);
      }
    }
    assert.equal(transposedCount, 16);
    assert.deepEqual(g.info('blk.0.attn_qkv.weight').dims, [128, 384], 'ggml ne0 = n_embd, as llama.cpp loads {n_embd, 3*n_embd}');
    const expectKV = { 'general.architecture': 'gpt2', 'general.file_type': 0, 'gpt2.context_length': 128, 'gpt2.embedding_length': 128, 'gpt2.feed_forward_length': 512, 'gpt2.block_count': 4, 'gpt2.attention.head_count': 4 };
    for (const [k, v] of Object.entries(expectKV)) assert.equal(kvValue(g, k), v, k);
    assert.equal(kvValue(g, 'gpt2.attention.layer_norm_epsilon'), Math.fround(1e-5));
  });

  it('a model without a tokenizer gets a byte-level gpt2 vocabulary with an empty merges array, never model "none"', async () => {
    const out = path.join(dir, 'vocab.gguf');
    await exportGguf(F32_BASE, out, { config: CONFIG });
    using g = GgufFile.open(out);
    assert.equal(kvValue(g, 'tokenizer.ggml.model'), 'gpt2');
    assert.equal(kvValue(g, 'tokenizer.ggml.pre'), 'gpt-2');
    const tokens = arrayItems(g, 'tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, 257, 'one token per embedding row');
    assert.equal(tokens[0x41], 'A');
    assert.equal(tokens[0x20], 'Ġ');  // GPT-2's stand-ins for space and newline
    assert.equal(tokens[0x0a], 'Ċ');
    assert.equal(new Set(tokens).size, 257, 'no two tokens alike');
    assert.deepEqual(tokens.slice(0, 256), byteToUnicode());
    assert.equal(tokens[256], '<|endoftext|>');
    const merges = g.kv.find((e) => e.key === 'tokenizer.ggml.merges');
    assert.ok(merges !== undefined && (merges.value as GgufArray).itemType === 'string');
    assert.equal((merges.value as GgufArray).items.length, 0);
    assert.equal((arrayItems(g, 'tokenizer.ggml.token_type') as Int32Array)[256], 3);
    assert.equal(kvValue(g, 'tokenizer.ggml.eos_token_id'), 256);
    assert.equal(kvValue(g, 'tokenizer.ggml.bos_token_id'), 256);
  });

  it('--dtype bf16 from the f32 model equals the bf16 fixture (its RNE) bit for bit; 1-D tensors stay F32', async () => {
    const out = path.join(dir, 'base-bf16.gguf');
    const r = await exportGguf(F32_BASE, out, { config: CONFIG, dtype: 'bf16' });
    assert.equal(r.dtype, 'BF16');
    using g = GgufFile.open(out);
    using ref = openWeights(BF16_BASE);
    using f32 = openWeights(F32_BASE);
    assert.equal(kvValue(g, 'general.file_type'), 32);
    for (const name of ref.names()) {
      const { gguf, transpose } = gpt2Map(name);
      const m = ref.meta(name);
      if (m.shape.length === 1) {
        assert.equal(g.info(gguf).ggmlType, 'F32', gguf);
        assert.deepEqual(bits(g.view(gguf)), bits(f32.view(name)), gguf);
        continue;
      }
      assert.equal(g.info(gguf).ggmlType, 'BF16', gguf);
      const want = transpose ? transposed(bits(ref.view(name)), m.shape[0]!, m.shape[1]!) : [...bits(ref.view(name))];
      assert.deepEqual([...bits(g.view(gguf))], want, gguf);
    }
  });

  it('converts and copies in windows (as for tensors over 4 GiB) with the same bits as in one piece', async () => {
    const whole = path.join(dir, 'whole-f16.gguf');
    const windowed = path.join(dir, 'windowed-f16.gguf');
    await exportGguf(F32_BASE, whole, { config: CONFIG, dtype: 'f16' });
    const saved = exportHooks.windowElements;
    exportHooks.windowElements = 1000;  // not a divisor of any row: windows cut rows anywhere
    try {
      await exportGguf(F32_BASE, windowed, { config: CONFIG, dtype: 'f16' });
    } finally {
      exportHooks.windowElements = saved;
    }
    assert.deepEqual(fs.readFileSync(windowed), fs.readFileSync(whole));
    using g = GgufFile.open(whole);
    assert.equal(g.info('token_embd.weight').ggmlType, 'F16');
    assert.equal(kvValue(g, 'general.file_type'), 1);
  });

  it('the bf16 model keeps bf16 matrices by default and widens 1-D tensors exactly', async () => {
    const out = path.join(dir, 'bf16-default.gguf');
    await exportGguf(BF16_BASE, out, { config: CONFIG });
    using g = GgufFile.open(out);
    using ref = openWeights(BF16_BASE);
    assert.equal(g.info('token_embd.weight').ggmlType, 'BF16');
    assert.deepEqual(g.view('token_embd.weight'), ref.view('transformer.wte.weight'));
    const ln = ref.view('transformer.ln_f.weight') as Uint16Array;
    assert.deepEqual([...bits(g.view('output_norm.weight'))], [...ln].map((b) => (b << 16) >>> 0));
  });
});

/** A small random Llama-layout checkpoint: 4 heads over 2 key/value heads, head_dim 8. */
function llamaFolder(dir: string, o: { arch?: string; layers?: number; configLayers?: number; hidden?: number; tokenizer?: unknown; qkvBias?: boolean; lmHead?: boolean } = {}): string {
  const H = 32, heads = 4, kv = 2, hd = 8, ff = 48, vocab = 300, layers = o.layers ?? 2;
  fs.mkdirSync(dir, { recursive: true });
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [vocab, H], 'model.norm.weight': [H] };
  if (o.lmHead !== false) shapes['lm_head.weight'] = [vocab, H];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    Object.assign(shapes, {
      [`${p}.input_layernorm.weight`]: [H], [`${p}.post_attention_layernorm.weight`]: [H],
      [`${p}.self_attn.q_proj.weight`]: [heads * hd, H], [`${p}.self_attn.k_proj.weight`]: [kv * hd, H],
      [`${p}.self_attn.v_proj.weight`]: [kv * hd, H], [`${p}.self_attn.o_proj.weight`]: [H, heads * hd],
      [`${p}.mlp.gate_proj.weight`]: [ff, H], [`${p}.mlp.up_proj.weight`]: [ff, H], [`${p}.mlp.down_proj.weight`]: [H, ff],
    });
    if (o.qkvBias) Object.assign(shapes, { [`${p}.self_attn.q_proj.bias`]: [heads * hd], [`${p}.self_attn.k_proj.bias`]: [kv * hd], [`${p}.self_attn.v_proj.bias`]: [kv * hd] });
  }
  const single = path.join(dir, 'single.safetensors.tmp');
  const w = SafetensorsWriter.create(single, { tensors: Object.entries(shapes).map(([name, shape]) => ({ name, dtype: 'F32', shape })) });
  for (const name of Object.keys(shapes)) {
    const v = w.view(name) as Float32Array;
    for (let i = 0; i < v.length; i++) v[i] = Math.fround(Math.random() * 2 - 1);
  }
  w.commit();
  const arch = o.arch ?? 'LlamaForCausalLM';
  const config = {
    architectures: [arch], model_type: arch === 'Qwen2ForCausalLM' ? 'qwen2' : 'llama', hidden_size: o.hidden ?? H, num_attention_heads: heads, num_key_value_heads: kv,
    num_hidden_layers: o.configLayers ?? layers, intermediate_size: ff, vocab_size: vocab, max_position_embeddings: 64, rms_norm_eps: 1e-5, rope_theta: 500000,
    bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: o.lmHead === false,
  };
  // Sharded, like a hub checkpoint.
  {
    using set = openWeights(single);
    writeCheckpoint(set, dir, { maxShardBytes: 20_000, overwrite: true });
  }
  fs.rmSync(single);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  if (o.tokenizer !== undefined) fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(o.tokenizer));
  return dir;
}

describe('evolver export gguf: Llama layout', () => {
  const root = tempDir('evolver-export-llama-');

  it('permutes q rows over the heads and k rows over the key/value heads, as convert_hf_to_gguf.py does; v and the rest unchanged', async () => {
    const folder = llamaFolder(path.join(root, 'llama'));
    assert.ok(fs.existsSync(path.join(folder, 'model.safetensors.index.json')), 'the fixture is sharded');
    const out = path.join(root, 'llama.gguf');
    const r = await exportGguf(folder, out);
    assert.equal(r.architecture, 'llama');
    using g = GgufFile.open(out);
    using src = openWeights(folder);
    for (const l of [0, 1]) {
      const q = src.view(`model.layers.${l}.self_attn.q_proj.weight`) as Float32Array;
      const k = src.view(`model.layers.${l}.self_attn.k_proj.weight`) as Float32Array;
      const pq = numpyPermute(q, 32, 32, 4);
      const pk = numpyPermute(k, 16, 32, 2);
      assert.deepEqual([...(g.view(`blk.${l}.attn_q.weight`) as Float32Array)], pq);
      assert.deepEqual([...(g.view(`blk.${l}.attn_k.weight`) as Float32Array)], pk);
      assert.notDeepEqual(pq, [...q], 'the permutation moves rows');
      assert.notDeepEqual(numpyPermute(k, 16, 32, 4), pk, 'k is permuted over the key/value heads, not all heads');
      assert.deepEqual(g.view(`blk.${l}.attn_v.weight`), src.view(`model.layers.${l}.self_attn.v_proj.weight`));
      assert.deepEqual(g.view(`blk.${l}.ffn_gate.weight`), src.view(`model.layers.${l}.mlp.gate_proj.weight`));
      assert.deepEqual(g.info(`blk.${l}.attn_k.weight`).shape, [16, 32]);
    }
    assert.deepEqual(g.view('output.weight'), src.view('lm_head.weight'));
    const expectKV = {
      'general.architecture': 'llama', 'llama.block_count': 2, 'llama.embedding_length': 32, 'llama.feed_forward_length': 48, 'llama.context_length': 64,
      'llama.attention.head_count': 4, 'llama.attention.head_count_kv': 2, 'llama.rope.dimension_count': 8, 'llama.rope.freq_base': 500000,
      'llama.attention.layer_norm_rms_epsilon': Math.fround(1e-5), 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.bos_token_id': 1,
    };
    for (const [key, v] of Object.entries(expectKV)) assert.equal(kvValue(g, key), v, key);
    assert.equal((arrayItems(g, 'tokenizer.ggml.tokens') as string[]).length, 300);
  });

  it('Qwen2: q/k/v biases carried, no permutation', async () => {
    const folder = llamaFolder(path.join(root, 'qwen'), { arch: 'Qwen2ForCausalLM', qkvBias: true, lmHead: false });
    const out = path.join(root, 'qwen.gguf');
    await exportGguf(folder, out, { dtype: 'f32' });
    using g = GgufFile.open(out);
    using src = openWeights(folder);
    assert.equal(g.architecture, 'qwen2');
    assert.equal(kvValue(g, 'qwen2.attention.head_count_kv'), 2);
    assert.deepEqual(g.view('blk.1.attn_q.weight'), src.view('model.layers.1.self_attn.q_proj.weight'));
    assert.deepEqual(g.view('blk.1.attn_k.bias'), src.view('model.layers.1.self_attn.k_proj.bias'));
    assert.ok(!g.has('output.weight'));
  });

  it('carries a byte-level BPE tokenizer.json: vocabulary, added special tokens as CONTROL, merges', async () => {
    const vocab: Record<string, number> = {};
    byteToUnicode().forEach((t, i) => { vocab[t] = i; });
    vocab['Ġt'] = 256;
    vocab['Ġth'] = 257;
    const tokenizer = {
      model: { type: 'BPE', vocab, merges: ['Ġ t', ['Ġt', 'h']] },
      added_tokens: [{ id: 298, content: '<|begin|>', special: true }, { id: 299, content: '<|end|>', special: true }],
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split' }, { type: 'ByteLevel' }] },
    };
    const folder = llamaFolder(path.join(root, 'tok'), { tokenizer });
    const out = path.join(root, 'tok.gguf');
    const r = await exportGguf(folder, out);
    assert.equal(r.tokenizer, 'tokenizer.json');
    using g = GgufFile.open(out);
    const tokens = arrayItems(g, 'tokenizer.ggml.tokens') as string[];
    assert.equal(tokens.length, 300);
    assert.equal(tokens[257], 'Ġth');
    assert.equal(tokens[299], '<|end|>');
    assert.equal(tokens[260], '[PAD260]');
    const types = arrayItems(g, 'tokenizer.ggml.token_type') as Int32Array;
    assert.deepEqual([types[0], types[257], types[260], types[299]], [1, 1, 5, 3]);
    assert.deepEqual(arrayItems(g, 'tokenizer.ggml.merges'), ['Ġ t', 'Ġt h']);
    assert.equal(kvValue(g, 'tokenizer.ggml.pre'), 'llama-bpe');
  });

  // The sp-bpe fixture: <unk>=0 <s>=1 </s>=2, <0xNN>=NN+3, ▁=259 ... ▁h=267 ll=268 ▁he=269 ▁hell=270
  // ▁hello=271, merges (▁ h), (l l), (▁h e), (▁he ll), (▁hell o); Metaspace, byte fallback.
  it('carries a SentencePiece-style BPE tokenizer.json as llama.cpp\'s llama vocabulary: BYTE tokens, merge-rank scores', async () => {
    const sp = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'tokenizers', 'sp-bpe', 'tokenizer.json'), 'utf8'));
    const out = path.join(root, 'sp.gguf');
    assert.equal((await exportGguf(llamaFolder(path.join(root, 'sp'), { tokenizer: sp }), out)).tokenizer, 'tokenizer.json');
    using g = GgufFile.open(out);
    assert.equal(kvValue(g, 'tokenizer.ggml.model'), 'llama');
    assert.equal(kvValue(g, 'tokenizer.ggml.pre'), 'default');
    const tokens = arrayItems(g, 'tokenizer.ggml.tokens') as string[];
    assert.deepEqual([tokens.length, tokens[68], tokens[271], tokens[272]], [300, '<0x41>', '▁hello', '[PAD272]']);
    const types = arrayItems(g, 'tokenizer.ggml.token_type') as Int32Array;
    // UNKNOWN, CONTROL, CONTROL, BYTE, BYTE, NORMAL, NORMAL, UNUSED
    assert.deepEqual([0, 1, 2, 3, 68, 259, 271, 272].map((i) => types[i]), [2, 3, 3, 6, 6, 1, 1, 5]);
    const scores = arrayItems(g, 'tokenizer.ggml.scores') as Float32Array;
    // Minus the rank of the merge that makes the token; every other token below all of them (-6).
    assert.deepEqual([267, 268, 269, 270, 271, 259, 1, 68].map((i) => scores[i]), [0, -1, -2, -3, -4, -6, -6, -6]);
    assert.deepEqual(['add_space_prefix', 'unknown_token_id', 'bos_token_id', 'eos_token_id'].map((k) => kvValue(g, `tokenizer.ggml.${k}`)), [true, 0, 1, 2]);
    assert.equal(g.value('tokenizer.ggml.merges'), undefined);

    // No prefix space when Metaspace says never; a merge that makes no vocabulary token is refused.
    const never = { ...sp, pre_tokenizer: { ...sp.pre_tokenizer, prepend_scheme: 'never' } };
    const neverOut = path.join(root, 'sp-never.gguf');
    await exportGguf(llamaFolder(path.join(root, 'sp-never'), { tokenizer: never }), neverOut);
    using gn = GgufFile.open(neverOut);
    assert.equal(kvValue(gn, 'tokenizer.ggml.add_space_prefix'), false);
    const bad = { ...sp, model: { ...sp.model, merges: [...sp.model.merges, ['w', 'o']] } };
    await assert.rejects(exportGguf(llamaFolder(path.join(root, 'sp-bad'), { tokenizer: bad }), path.join(root, 'sp-bad.gguf')),
      (e: unknown) => e instanceof ExportError && e.code === 'BAD_TOKENIZER' && /tokenizer\.json: merge 5 \("w o"\) makes a token that is not in the vocabulary/.test(e.message));
  });
});

describe('evolver export gguf: refusals', () => {
  const root = tempDir('evolver-export-bad-');
  const expectExport = async (p: Promise<unknown>, code: string, pattern: RegExp) => {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ExportError, String(err));
      assert.equal(err.code, code);
      assert.match(err.message, pattern);
      return true;
    });
  };

  it('Mistral is exported as llama; a config is matched by class, then by model_type', () => {
    assert.equal(findArchitecture({ architectures: ['MistralForCausalLM'] })?.name, 'llama');
    assert.equal(findArchitecture({ model_type: 'qwen2' })?.name, 'qwen2');
    assert.equal(findArchitecture({ architectures: ['Other'], model_type: 'gpt2' })?.name, 'gpt2');
    assert.equal(findArchitecture({ architectures: ['Other'] }), undefined);
  });

  it('a rope_scaling the export cannot express', async () => {
    const folder = llamaFolder(path.join(root, 'rope'));
    const cfg = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'llama3', factor: 8 } }));
    await expectExport(exportGguf(folder, path.join(root, 'r.gguf')), 'BAD_CONFIG', /rope_scaling of type "llama3" is not supported/);
  });

  it('an unknown architecture, listing the known ones', async () => {
    const folder = llamaFolder(path.join(root, 'unknown'));
    fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ architectures: ['FalconForCausalLM'], model_type: 'falcon' }));
    await expectExport(exportGguf(folder, path.join(root, 'u.gguf')), 'UNKNOWN_ARCHITECTURE', /"FalconForCausalLM".*gpt2 \(GPT2LMHeadModel\).*llama \(LlamaForCausalLM, MistralForCausalLM\).*qwen2/);
  });

  it('a config.json whose layer count or hidden size disagrees with the tensors', async () => {
    const more = llamaFolder(path.join(root, 'layers'), { configLayers: 3 });
    await expectExport(exportGguf(more, path.join(root, 'l.gguf')), 'CONFIG_MISMATCH', /'num_hidden_layers' is 3 but .* holds 2 blocks \(0, 1\)/);
    const fewer = llamaFolder(path.join(root, 'layers1'), { configLayers: 1 });
    await expectExport(exportGguf(fewer, path.join(root, 'l1.gguf')), 'CONFIG_MISMATCH', /is 1 but .* holds 2 blocks/);
    const hidden = llamaFolder(path.join(root, 'hidden'), { hidden: 64 });
    await expectExport(exportGguf(hidden, path.join(root, 'h.gguf')), 'CONFIG_MISMATCH', /tensor 'model.embed_tokens.weight' is \[300, 32\] but .*config.json \(vocab_size, hidden_size\) implies \[300, 64\]/);
    const gpt2 = path.join(root, 'gpt2-config.json');
    fs.writeFileSync(gpt2, JSON.stringify({ ...JSON.parse(fs.readFileSync(CONFIG, 'utf8')), n_layer: 6 }));
    await expectExport(exportGguf(F32_BASE, path.join(root, 'g.gguf'), { config: gpt2 }), 'CONFIG_MISMATCH', /'n_layer' is 6 but .* holds 4 blocks/);
    assert.ok(!fs.existsSync(path.join(root, 'g.gguf')));
  });

  it('a missing config.json, a missing tensor, a tensor with no place, a SentencePiece tokenizer, an existing output', async () => {
    await expectExport(exportGguf(F32_BASE, path.join(root, 'nc.gguf')), 'BAD_CONFIG', /config.json: not found.*--config/);
    const folder = llamaFolder(path.join(root, 'missing'));
    const cfg = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
    const noQ = path.join(root, 'noq');
    {
      using set = openWeights(folder);
      const names = set.names().filter((n) => n !== 'model.layers.1.self_attn.q_proj.weight');
      writeCheckpoint({ names: () => names, meta: (n) => set.meta(n), chunks: (n) => set.chunks(n), metadata: {} }, noQ);
    }
    fs.writeFileSync(path.join(noQ, 'config.json'), JSON.stringify(cfg));
    await expectExport(exportGguf(noQ, path.join(root, 'm.gguf')), 'MISSING_TENSOR', /'model.layers.1.self_attn.q_proj.weight'/);
    const extra = llamaFolder(path.join(root, 'extra'), { qkvBias: true });
    await expectExport(exportGguf(extra, path.join(root, 'e.gguf')), 'UNMAPPED_TENSOR', /6 tensor\(s\) have no place in a llama GGUF: model.layers.0.self_attn.k_proj.bias/);
    // Neither byte-level nor SentencePiece-style (no byte fallback): refused. (The SentencePiece-style
    // export is checked against llama.cpp's own tokenizer in test/eval/real-tokenizers-llama-cpp.test.ts.)
    const spm = llamaFolder(path.join(root, 'spm'), { tokenizer: { model: { type: 'BPE', vocab: { '▁a': 0 }, byte_fallback: false }, pre_tokenizer: { type: 'Metaspace' } } });
    await expectExport(exportGguf(spm, path.join(root, 's.gguf')), 'TOKENIZER_UNSUPPORTED', /neither byte-level .* nor SentencePiece-style/);
    fs.rmSync(path.join(spm, 'tokenizer.json'));
    fs.writeFileSync(path.join(spm, 'tokenizer.model'), 'x');
    await expectExport(exportGguf(spm, path.join(root, 's.gguf')), 'TOKENIZER_UNSUPPORTED', /tokenizer.model: a SentencePiece model/);
    const exists = path.join(root, 'exists.gguf');
    fs.writeFileSync(exists, 'keep');
    await assert.rejects(exportGguf(F32_BASE, exists, { config: CONFIG }), (e: unknown) => (e as { code?: string }).code === 'OUTPUT_EXISTS');
    assert.equal(fs.readFileSync(exists, 'utf8'), 'keep');
    assert.deepEqual(fs.readdirSync(root).filter((f) => f.endsWith('.gguf') || f.includes('.tmp-')), ['exists.gguf'], 'no output or temporary file left by a refusal');
  });
});

describe('evolver export gguf / inspect on the command line', () => {
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('exports, then inspect prints the GGUF summary with architecture and KV count', () => {
    const out = path.join(tempDir('evolver-export-cli-'), 'm.gguf');
    const r = run('export', 'gguf', BF16_BASE, out, '--config', CONFIG, '--dtype', 'f16');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /gpt2, 52 tensors, matrices F16, byte-level vocabulary/);
    const table = run('inspect', out);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /format +gguf v3, alignment 32/);
    assert.match(table.stdout, /arch +gpt2/);
    assert.match(table.stdout, /kv pairs +\d+/);
    assert.match(table.stdout, /blk\.0\.attn_qkv\.weight +F16 +\[384, 128\]/);
    const json = JSON.parse(run('inspect', out, '--json').stdout);
    assert.equal(json.format, 'gguf');
    assert.equal(json.gguf.architecture, 'gpt2');
    assert.equal(json.parameters, 842_624);
    const again = run('export', 'gguf', BF16_BASE, out, '--config', CONFIG);
    assert.equal(again.code, 73, again.stderr);
    const bad = run('export', 'gguf', BF16_BASE, out + '2', '--dtype', 'q4');
    assert.equal(bad.code, 64);
    assert.match(bad.stderr, /--dtype must be f32, f16 or bf16/);
    const corrupt = path.join(path.dirname(out), 'bad.gguf');
    fs.writeFileSync(corrupt, fs.readFileSync(out).subarray(0, 5000));
    const c = run('inspect', corrupt);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /error \[TRUNCATED\]: .*bad\.gguf/);
  });
});

void assertWeightError;
