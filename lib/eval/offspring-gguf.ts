/**
 * How the llama.cpp fitness turns an offspring into the GGUF file llama.cpp loads:
 * - a Hugging Face population (safetensors + config.json): exported (gguf-export.ts);
 * - a GGUF population (`ggufTemplate`: the first member's .gguf): the offspring's tensors already
 *   carry the GGUF names, types and layout, so they are written as that GGUF is (its key/values,
 *   tensor order: write-gguf-like.ts) with no conversion at all;
 * - a member that is itself one .gguf file: nothing is written, the file is loaded as it is.
 */
import { exportWeightSetGguf } from '../export/gguf-export.js';
import type { WeightSet } from '../store/checkpoint.js';
import { GgufFile } from '../store/gguf.js';
import { writeLike } from '../store/write-gguf-like.js';

export interface OffspringGgufOptions {
  /** A GGUF population: the .gguf whose key/values and tensor order every offspring is written with. */
  ggufTemplate?: string;
  /** A Hugging Face population: config.json for the export. */
  config?: string;
  /** A Hugging Face population: where tokenizer.json is looked for. */
  tokenizerFolder?: string;
}

export interface OffspringGguf {
  /**
   * The .gguf to load for `weights`: `scratchFile` after writing it there (rewritten in place
   * from one offspring to the next: lib/store/scratch-writer.ts), or the member's own file.
   */
  place(weights: WeightSet, scratchFile: string): Promise<string>;
  close(): void;
}

/** The single .gguf file a weight set was opened from, or undefined. */
export function ownGgufFile(weights: WeightSet): string | undefined {
  const [file, ...rest] = weights.files;
  return weights.format === 'gguf' && rest.length === 0 && file instanceof GgufFile ? file.path : undefined;
}

export function offspringGguf(o: OffspringGgufOptions): OffspringGguf {
  let template: GgufFile | undefined;
  return {
    async place(weights, scratchFile) {
      const own = ownGgufFile(weights);
      if (own !== undefined) return own;
      if (o.ggufTemplate !== undefined) {
        template ??= GgufFile.open(o.ggufTemplate);
        writeLike(template, weights, scratchFile, { scratch: true });
        return scratchFile;
      }
      await exportWeightSetGguf(weights, scratchFile, {
        name: 'offspring',
        scratch: true,
        ...(o.config === undefined ? {} : { config: o.config }),
        ...(o.tokenizerFolder === undefined ? {} : { tokenizerFolder: o.tokenizerFolder }),
      });
      return scratchFile;
    },
    close() {
      template?.close();
      template = undefined;
    },
  };
}
