/** Per-tensor statistics (NaN/Inf counts, min, max, mean, L2), computed natively off the JS thread. */
import { stats as kernelStats } from '../kernels/index.js';
import type { WeightSource } from './source.js';

export interface TensorStats {
  name: string;
  dtype: string;
  count: number;
  nan: number;
  posInf: number;
  negInf: number;
  /** Over finite values only; null when there are none. */
  min: number | null;
  max: number | null;
  mean: number | null;
  l2: number;
}

/** Scans every F32 / F16 / BF16 tensor; other dtypes are skipped. */
export async function scan(source: WeightSource, names = source.names()): Promise<TensorStats[]> {
  const out: TensorStats[] = [];
  for (const name of names) {
    const meta = source.meta(name);
    if (meta.dtype !== 'F32' && meta.dtype !== 'F16' && meta.dtype !== 'BF16') continue;
    const acc: TensorStats = { name, dtype: meta.dtype, count: 0, nan: 0, posInf: 0, negInf: 0, min: null, max: null, mean: null, l2: 0 };
    let finite = 0;
    let sum = 0;
    let sumSquares = 0;
    for (const chunk of source.chunks(name)) {
      const s = await kernelStats(chunk, meta.dtype);
      acc.count += chunk.byteLength / (meta.dtype === 'F32' ? 4 : 2);
      acc.nan += s.nan;
      acc.posInf += s.posInf;
      acc.negInf += s.negInf;
      finite += s.finite;
      if (s.min !== null) acc.min = acc.min === null ? s.min : Math.min(acc.min, s.min);
      if (s.max !== null) acc.max = acc.max === null ? s.max : Math.max(acc.max, s.max);
      sum += s.sum;
      sumSquares += s.sumSquares;
    }
    acc.mean = finite === 0 ? null : sum / finite;
    acc.l2 = Math.sqrt(sumSquares);
    out.push(acc);
  }
  return out;
}
