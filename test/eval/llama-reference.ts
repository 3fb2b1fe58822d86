/**
 * An independent reference for the llama.cpp fitness test: a plain-TypeScript forward pass of a
 * Hugging Face Llama checkpoint (RMSNorm, rotate-half RoPE on the HF q/k layout, grouped-query
 * attention, SwiGLU MLP, untied lm_head), in double precision, and the mean NLL of sequences.
 * It reads the HF tensors as they are: the GGUF export's q/k permutation is not involved.
 */
export interface LlamaShape {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ff: number;
  vocab: number;
  layers: number;
  eps: number;
  ropeTheta: number;
}

type Get = (name: string) => Float32Array;

/** y[r] = sum_c W[r, c] x[c] for a row-major [rows, cols] matrix. */
function matVec(w: Float32Array, x: Float64Array, rows: number): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    y[r] = s;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const k = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * k * w[i]!);
}

/** HF rotate-half RoPE of every head of `v` ([heads * headDim]) at position `pos`, in place. */
function rope(v: Float64Array, heads: number, headDim: number, pos: number, theta: number): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    const o = h * headDim;
    for (let j = 0; j < half; j++) {
      const angle = pos * Math.pow(theta, (-2 * j) / headDim);
      const c = Math.cos(angle), s = Math.sin(angle);
      const a = v[o + j]!, b = v[o + j + half]!;
      v[o + j] = a * c - b * s;
      v[o + j + half] = b * c + a * s;
    }
  }
}

/** Logits at every position of `ids`. */
export function llamaLogits(get: Get, s: LlamaShape, ids: readonly number[]): Float64Array[] {
  const embed = get('model.embed_tokens.weight');
  let xs = ids.map((id) => Float64Array.from(embed.subarray(id * s.hidden, (id + 1) * s.hidden)));
  const group = s.heads / s.kvHeads;
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    const qs: Float64Array[] = [], ks: Float64Array[] = [], vs: Float64Array[] = [];
    xs.forEach((x, t) => {
      const h = rmsNorm(x, get(`${p}.input_layernorm.weight`), s.eps);
      const q = matVec(get(`${p}.self_attn.q_proj.weight`), h, s.heads * s.headDim);
      const k = matVec(get(`${p}.self_attn.k_proj.weight`), h, s.kvHeads * s.headDim);
      rope(q, s.heads, s.headDim, t, s.ropeTheta);
      rope(k, s.kvHeads, s.headDim, t, s.ropeTheta);
      qs.push(q);
      ks.push(k);
      vs.push(matVec(get(`${p}.self_attn.v_proj.weight`), h, s.kvHeads * s.headDim));
    });
    xs = xs.map((x, t) => {
      const attn = new Float64Array(s.heads * s.headDim);
      for (let h = 0; h < s.heads; h++) {
        const kvh = Math.floor(h / group);
        const scores = Array.from({ length: t + 1 }, (_, u) => {
          let d = 0;
          for (let j = 0; j < s.headDim; j++) d += qs[t]![h * s.headDim + j]! * ks[u]![kvh * s.headDim + j]!;
          return d / Math.sqrt(s.headDim);
        });
        const m = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let u = 0; u <= t; u++) for (let j = 0; j < s.headDim; j++) attn[h * s.headDim + j]! += (e[u]! / z) * vs[u]![kvh * s.headDim + j]!;
      }
      const o = matVec(get(`${p}.self_attn.o_proj.weight`), attn, s.hidden);
      const y = x.map((v, i) => v + o[i]!);
      const h2 = rmsNorm(y, get(`${p}.post_attention_layernorm.weight`), s.eps);
      const g = matVec(get(`${p}.mlp.gate_proj.weight`), h2, s.ff);
      const up = matVec(get(`${p}.mlp.up_proj.weight`), h2, s.ff);
      const act = g.map((v, i) => (v / (1 + Math.exp(-v))) * up[i]!);
      const down = matVec(get(`${p}.mlp.down_proj.weight`), act, s.hidden);
      return y.map((v, i) => v + down[i]!);
    });
  }
  return xs.map((x) => matVec(get('lm_head.weight'), rmsNorm(x, get('model.norm.weight'), s.eps), s.vocab));
}

/** Token-weighted mean NLL of predicting ids[1..] from each sequence's prefix. */
export function llamaMeanNll(get: Get, s: LlamaShape, sequences: readonly (readonly number[])[]): number {
  let sum = 0, count = 0;
  for (const ids of sequences) {
    const logits = llamaLogits(get, s, ids);
    for (let t = 0; t + 1 < ids.length; t++) {
      const z = logits[t]!;
      const m = Math.max(...z);
      let lse = 0;
      for (const v of z) lse += Math.exp(v - m);
      sum -= z[ids[t + 1]!]! - m - Math.log(lse);
      count++;
    }
  }
  return sum / count;
}
