/** What a GGUF file states for scoring it: its end token and context length. */
import { GgufFile } from '../store/gguf.js';

/** tokenizer.ggml.eos_token_id and <arch>.context_length, when the file has them. */
export function ggufDefaults(file: string): { endToken?: number; context?: number } {
  const g = GgufFile.open(file);
  try {
    const eos = g.value('tokenizer.ggml.eos_token_id');
    const context = g.value(`${g.architecture}.context_length`);
    return {
      ...(typeof eos === 'number' ? { endToken: eos } : {}),
      ...(typeof context === 'number' ? { context } : {}),
    };
  } finally {
    g.close();
  }
}
