/**
 * Checks a GGUF's tokenizer metadata before llama.cpp loads it. llama.cpp does not report every
 * defect as an error: a file whose `tokenizer.ggml.model` is "none" (or "no") gets a vocabulary
 * without tokens, and loading it ends the whole process with an abort that no JavaScript code can
 * catch. So a file is only handed to node-llama-cpp when its vocabulary is one llama.cpp builds,
 * has its token list, and covers every token id the dev data will feed.
 */
import { BadInputError } from '../errors.js';
import { GgufFile } from '../store/gguf.js';
import type { GgufArray } from '../store/gguf-header.js';

export class GgufNotLoadableError extends BadInputError {
  override readonly name = 'GgufNotLoadableError';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}

/** Tokenizer models llama.cpp builds a vocabulary for (llama-vocab.cpp); "none"/"no" are not among them on purpose. */
export const LOADABLE_TOKENIZERS = ['llama', 'gpt2', 'bert', 't5', 'rwkv', 'plamo2'] as const;

const stringArray = (v: unknown): v is GgufArray & { items: readonly string[] } =>
  typeof v === 'object' && v !== null && (v as GgufArray).itemType === 'string';

export interface LoadableGguf {
  architecture: string;
  tokenizer: string;
  vocabSize: number;
}

/**
 * Throws GgufNotLoadableError unless llama.cpp can load `file` and score ids below `maxTokenId + 1`.
 * The header is fully validated by GgufFile.open (a WeightFileError for a damaged file).
 */
export function checkLoadableGguf(file: string, maxTokenId = 0): LoadableGguf {
  const gguf = GgufFile.open(file);
  try {
    const architecture = gguf.architecture;
    if (architecture === undefined) throw new GgufNotLoadableError(file, "has no 'general.architecture' string; llama.cpp cannot load it");
    const model = gguf.value('tokenizer.ggml.model');
    if (typeof model !== 'string') throw new GgufNotLoadableError(file, "has no 'tokenizer.ggml.model' string; llama.cpp needs a vocabulary to load a model");
    if (!(LOADABLE_TOKENIZERS as readonly string[]).includes(model)) {
      // Refused here: llama.cpp would abort the process (not throw) on "none".
      throw new GgufNotLoadableError(file, `tokenizer.ggml.model is ${JSON.stringify(model)}; llama.cpp can score only a model with a vocabulary (${LOADABLE_TOKENIZERS.join(', ')}), so it is not loaded`);
    }
    const tokens = gguf.value('tokenizer.ggml.tokens');
    if (!stringArray(tokens) || tokens.items.length === 0) throw new GgufNotLoadableError(file, "has no 'tokenizer.ggml.tokens' list of strings");
    if (model === 'gpt2' && !stringArray(gguf.value('tokenizer.ggml.merges'))) {
      throw new GgufNotLoadableError(file, "is a gpt2 (BPE) vocabulary without a 'tokenizer.ggml.merges' list of strings (an empty list is fine)");
    }
    const vocabSize = tokens.items.length;
    if (maxTokenId >= vocabSize) throw new GgufNotLoadableError(file, `its vocabulary has ${vocabSize} tokens but the data hold token id ${maxTokenId}`);
    return { architecture, tokenizer: model, vocabSize };
  } finally {
    gguf.close();
  }
}
