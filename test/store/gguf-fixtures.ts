/** Small GGUF files built in memory for the reader, writer, bad-input and fuzz tests. */
import type { GgufKV } from '../../lib/store/gguf-header.js';
import { type GgufWritePlan, kv, layoutGguf } from '../../lib/store/gguf-writer.js';

/** The bytes of a GGUF file for `plan`, each tensor filled by `fill` (default: a byte pattern). */
export function ggufBytes(plan: GgufWritePlan, fill: (name: string, byteLength: number) => Uint8Array = pattern): Uint8Array {
  const layout = layoutGguf(plan, 'test.gguf');
  const out = new Uint8Array(layout.totalSize);
  out.set(layout.header);
  for (const t of layout.tensors) out.set(fill(t.name, t.byteLength), t.fileOffset);
  return out;
}

export function pattern(name: string, n: number): Uint8Array {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return new Uint8Array(n).map((_, i) => (h + i * 7) & 0xff);
}

/** Every metadata value type, including arrays of strings, numbers and nested arrays. */
export const ALL_KV: GgufKV[] = [
  kv('general.architecture', 'string', 'llama'),
  kv('general.name', 'string', 'tiny ü test'),
  kv('t.u8', 'uint8', 200),
  kv('t.i8', 'int8', -5),
  kv('t.u16', 'uint16', 65000),
  kv('t.i16', 'int16', -30000),
  kv('t.u32', 'uint32', 4_000_000_000),
  kv('t.i32', 'int32', -2_000_000_000),
  kv('t.f32', 'float32', 0.1),
  kv('t.bool', 'bool', true),
  kv('t.u64', 'uint64', 2n ** 63n + 5n),
  kv('t.i64', 'int64', -(2n ** 62n)),
  kv('t.f64', 'float64', Math.PI),
  kv('t.strings', 'array', { itemType: 'string', items: ['a', '', 'ĠHello'] }),
  kv('t.floats', 'array', { itemType: 'float32', items: new Float32Array([1.5, -2, 0.1]) }),
  kv('t.bools', 'array', { itemType: 'bool', items: new Uint8Array([1, 0, 1]) }),
  kv('t.nested', 'array', { itemType: 'array', items: [{ itemType: 'int32', items: new Int32Array([1, 2]) }, { itemType: 'string', items: ['x'] }] }),
];

/** A plan with assorted tensor types, shapes and sizes (not multiples of the alignment). */
export const SMALL_PLAN: GgufWritePlan = {
  kv: ALL_KV,
  tensors: [
    { name: 'token_embd.weight', type: 'F32', shape: [5, 3] },
    { name: 'blk.0.attn_norm.weight', type: 'BF16', shape: [3] },
    { name: 'blk.0.ffn_up.weight', type: 'F16', shape: [2, 3, 1] },
    { name: 'blk.0.ffn_down.weight', type: 'Q8_0', shape: [2, 64] },
    { name: 'empty', type: 'F32', shape: [0, 4] },
    { name: 'scalar', type: 'F32', shape: [] },
  ],
};
