/** Per-tensor statistics (NaN/Inf counts, min, max, mean, L2), computed natively off the JS thread. */
import { native } from '../native.js';
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

/** Scans every floating-point tensor (F32, F16, BF16, F64); other dtypes are skipped. */
export async function scan(source: WeightSource, names = source.names()): Promise<TensorStats[]> {
  const out: TensorStats[] = [];
  for (const name of names) {
    const meta = source.meta(name);
    if (meta.dtype !== 'F32' && meta.dtype !== 'F16' && meta.dtype !== 'BF16' && meta.dtype !== 'F64') continue;
    const acc = { count: 0, nan: 0, posInf: 0, negInf: 0, finite: 0, min: null as number | null, max: null as number | null, sum: 0, sumSquares: 0 };
    for (const chunk of source.chunks(name)) {
      const s = await native.scan(chunk, meta.dtype);
      acc.count += s.count;
      acc.nan += s.nan;
      acc.posInf += s.posInf;
      acc.negInf += s.negInf;
      acc.finite += s.finite;
      if (s.min !== null) acc.min = acc.min === null ? s.min : Math.min(acc.min, s.min);
      if (s.max !== null) acc.max = acc.max === null ? s.max : Math.max(acc.max, s.max);
      acc.sum += s.sum;
      acc.sumSquares += s.sumSquares;
    }
    out.push({
      name,
      dtype: meta.dtype,
      count: acc.count,
      nan: acc.nan,
      posInf: acc.posInf,
      negInf: acc.negInf,
      min: acc.min,
      max: acc.max,
      mean: acc.finite === 0 ? null : acc.sum / acc.finite,
      l2: Math.sqrt(acc.sumSquares),
    });
  }
  return out;
}
