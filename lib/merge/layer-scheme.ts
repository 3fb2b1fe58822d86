/**
 * How a checkpoint names its transformer layers, for slices: which tensors belong to layer N,
 * and which config.json key holds the layer count. Only the schemes listed are recognized; a
 * model with none of them is an error (guessing would renumber the wrong tensors).
 */
import { ConfigError } from '../evolve/config.js';

export interface LayerScheme {
  /** Tensor-name prefix before the layer index, e.g. `model.layers.`. */
  prefix: string;
  /** config.json key holding the number of layers. */
  configKey: string;
}

export const LAYER_SCHEMES: readonly LayerScheme[] = [
  { prefix: 'model.layers.', configKey: 'num_hidden_layers' },  // Llama, Mistral, Qwen, Gemma...
  { prefix: 'transformer.h.', configKey: 'n_layer' },           // GPT-2 (as transformers saves it)
  { prefix: 'h.', configKey: 'n_layer' },                       // GPT-2 saved without the 'transformer.' prefix
];

export interface ModelLayers {
  scheme: LayerScheme;
  count: number;
  /** Layer index and the rest of the name (`attn.c_attn.weight`), or undefined outside the layers. */
  split(name: string): { index: number; suffix: string } | undefined;
  /** The tensor names of layer `index` (as suffixes), in the model's order. */
  suffixes(index: number): string[];
  layerName(index: number, suffix: string): string;
}

export function modelLayers(names: readonly string[], model: string, file: string, key: string): ModelLayers {
  for (const scheme of LAYER_SCHEMES) {
    const re = new RegExp(`^${scheme.prefix.replace(/\./g, '\\.')}(\\d+)\\.(.+)$`);
    const byLayer = new Map<number, string[]>();
    for (const n of names) {
      const m = re.exec(n);
      if (!m) continue;
      const i = Number(m[1]);
      let list = byLayer.get(i);
      if (list === undefined) byLayer.set(i, (list = []));
      list.push(m[2]!);
    }
    if (byLayer.size === 0) continue;
    const count = Math.max(...byLayer.keys()) + 1;
    // A gap (layer 2 missing while 3 exists) would silently shift every layer after it.
    for (let i = 0; i < count; i++) {
      if (!byLayer.has(i)) throw new ConfigError(file, key, `${model} has tensors of layer ${count - 1} (${scheme.prefix}${count - 1}.) but none of layer ${i}`);
    }
    return {
      scheme,
      count,
      split(name) {
        const m = re.exec(name);
        return m ? { index: Number(m[1]), suffix: m[2]! } : undefined;
      },
      suffixes: (i) => byLayer.get(i) ?? [],
      layerName: (i, suffix) => `${scheme.prefix}${i}.${suffix}`,
    };
  }
  throw new ConfigError(file, key, `${model} has no layer tensors named ${LAYER_SCHEMES.map((s) => `${s.prefix}N.*`).join(', ')}; slices recognize only these naming schemes`);
}

/**
 * mergekit's pre / post weights without its architecture tables: embeddings (`embed`, `wte`,
 * `wpe` in the name, the same test gradients use for depth 0) come before the layers and are
 * taken from the first slice; every other non-layer tensor (final norm, lm_head) comes after
 * them and is taken from the last slice.
 */
export function isPreLayer(name: string): boolean {
  return /embed|wte|wpe/.test(name);
}
