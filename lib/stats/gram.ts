/** The Gram matrix kernel of the RegMean statistics: G += Xᵀ X in float64. */

/**
 * Adds the Gram matrix of `x` (`rows` × `cols`, row-major float32) to `gram` (`cols` × `cols`,
 * row-major float64): gram[i][j] += Σ_r x[r][i] · x[r][j], products and sums in float64.
 *
 * `gram` must be symmetric on entry (zeros, or the result of earlier calls): only the upper
 * triangle is accumulated, then copied onto the lower one. Loop order: for each row i of the
 * Gram, the rows of x four at a time — gram row i stays in cache while x (one example's rows)
 * streams, and each gram element is loaded and stored once per four rows.
 */
export function accumulateGram(gram: Float64Array, x: Float32Array, rows: number, cols: number): void {
  if (gram.length !== cols * cols) throw new RangeError(`accumulateGram: gram has ${gram.length} elements, expected ${cols} x ${cols}`);
  if (x.length < rows * cols) throw new RangeError(`accumulateGram: x has ${x.length} elements, expected ${rows} x ${cols}`);
  const full = rows - (rows % 4);
  for (let i = 0; i < cols; i++) {
    const gi = i * cols;
    for (let r = 0; r < full; r += 4) {
      const x0 = r * cols, x1 = x0 + cols, x2 = x1 + cols, x3 = x2 + cols;
      const a0 = x[x0 + i]!, a1 = x[x1 + i]!, a2 = x[x2 + i]!, a3 = x[x3 + i]!;
      for (let j = i; j < cols; j++) gram[gi + j] = gram[gi + j]! + a0 * x[x0 + j]! + a1 * x[x1 + j]! + a2 * x[x2 + j]! + a3 * x[x3 + j]!;
    }
    for (let r = full; r < rows; r++) {
      const xr = r * cols;
      const a = x[xr + i]!;
      for (let j = i; j < cols; j++) gram[gi + j] = gram[gi + j]! + a * x[xr + j]!;
    }
  }
  for (let i = 0; i < cols; i++) for (let j = i + 1; j < cols; j++) gram[j * cols + i] = gram[i * cols + j]!;
}
