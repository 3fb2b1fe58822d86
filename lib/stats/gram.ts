/** The Gram matrix kernel of the RegMean statistics: G += Xᵀ X in float64. */
import { native } from '../native.js';

/**
 * Adds the Gram matrix of `x` (`rows` × `cols`, row-major float32) to `gram` (`cols` × `cols`,
 * row-major float64): gram[i][j] += Σ_r x[r][i] · x[r][j], products and sums in float64, by
 * Eigen's symmetric rank-k update off the JS thread (cpp/napi_regmean.cc). `gram` is best
 * native memory (`native.allocate`): it is then updated in place rather than copied both ways.
 * A non-finite value in `x` rejects with code ENONFINITE and leaves `gram` as it was.
 */
export async function accumulateGram(gram: Float64Array, x: Float32Array, rows: number, cols: number): Promise<void> {
  if (gram.length !== cols * cols) throw new RangeError(`accumulateGram: gram has ${gram.length} elements, expected ${cols} x ${cols}`);
  if (x.length < rows * cols) throw new RangeError(`accumulateGram: x has ${x.length} elements, expected ${rows} x ${cols}`);
  if (rows === 0) return;
  await native.gramAccumulate({ x: x.subarray(0, rows * cols), rows, cols, gram });
}
