/**
 * Moves of whole elements (bit patterns, never arithmetic) that turn a Hugging Face tensor into
 * the layout llama.cpp expects. Works on 2- and 4-byte elements alike, so it runs before any
 * dtype conversion and is exact.
 */
type Elements = Uint16Array | Uint32Array;

/** Elements of `bytes` as 16- or 32-bit words (a copy when the view is unaligned). */
export function words(bytes: Uint8Array, elementBytes: number): Elements {
  const aligned = bytes.byteOffset % elementBytes === 0 ? bytes : bytes.slice();
  return elementBytes === 2
    ? new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2)
    : new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
}

/** Edge of the square tiles transpose() moves: both tiles stay in L1, so rows and columns stream. */
const TILE = 32;

/**
 * [rows, cols] -> [cols, rows], into `out` (a new array by default; e.g. the output file's own
 * view, saving a copy per offspring). Tiled: a plain loop would stride through `out` a whole
 * column at a time, one cache miss per element on large matrices.
 */
export function transpose(src: Elements, rows: number, cols: number, out: Elements = newLike(src)): Elements {
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = Math.min(rows, i0 + TILE);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(cols, j0 + TILE);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * rows + i] = src[i * cols + j]!;
    }
  }
  return out;
}

function newLike(src: Elements): Elements {
  return new (src.constructor as new (n: number) => Elements)(src.length);
}

/**
 * llama.cpp's q/k row order (convert_hf_to_gguf.py `permute`): the rows of each of `heads`
 * heads, viewed as [2, half, rest], become [half, 2, rest] — HF rotates the two halves of a head
 * against each other, llama.cpp's rope rotates adjacent pairs. Output row h*2*half + 2*j + k is
 * input row h*2*half + k*half + j. `rowLength` is the elements per row (1 for a bias).
 */
export function permuteRows(src: Elements, rows: number, rowLength: number, heads: number, out: Elements = newLike(src)): Elements {
  if (heads <= 0 || rows % (2 * heads) !== 0) throw new RangeError(`cannot permute ${rows} rows over ${heads} heads (needs a multiple of ${2 * heads})`);
  const half = rows / heads / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let k = 0; k < 2; k++) {
        const to = (h * 2 * half + 2 * j + k) * rowLength;
        const from = (h * 2 * half + k * half + j) * rowLength;
        out.set(src.subarray(from, from + rowLength), to);
      }
    }
  }
  return out;
}
