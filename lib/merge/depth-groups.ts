/**
 * Depth groups for per-depth merge coefficients: the transformer blocks (`.layers.N.`, `.h.N.`,
 * `.blocks.N.`, `.layer.N.`, as gradients find them: layerInfo) split into G = min(groups, L)
 * contiguous runs, block l of L in group ⌊l·G/L⌋, and one more group, index G, for every tensor
 * outside the blocks (embeddings, final norm, an untied head). Several block stacks sharing
 * indices (encoder-decoder) share groups: depth is the index.
 */
import { layerInfo } from './config.js';

export interface DepthGroups {
  /** Groups in all: the block groups plus the one outside the blocks. */
  count: number;
  of(name: string): number;
  /** A short label per group, e.g. "blocks 0-6" / "outside blocks". */
  labels: string[];
}

export function depthGroups(names: readonly string[], groups: number): DepthGroups {
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`depth groups: expected a whole number >= 1, got ${groups}`);
  const layers = layerInfo(names);
  const blocks = layers.count;
  if (blocks === 0) return { count: 1, of: () => 0, labels: ['all tensors (no transformer blocks found)'] };
  const g = Math.min(groups, blocks);
  const groupOfBlock = (l: number) => Math.floor((l * g) / blocks);
  const labels: string[] = [];
  for (let i = 0; i < g; i++) {
    const first = Math.ceil((i * blocks) / g), last = Math.ceil(((i + 1) * blocks) / g) - 1;
    labels.push(first === last ? `block ${first}` : `blocks ${first}-${last}`);
  }
  labels.push('outside blocks');
  return {
    count: g + 1,
    of: (name) => {
      const l = layers.of(name);
      return l === undefined ? g : groupOfBlock(l);
    },
    labels,
  };
}
