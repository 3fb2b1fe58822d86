// The llama.cpp evaluator with a tokenizer: a byte-identical tokenizer.json gives the byte-level
// NLL exactly, and the ids of another vocabulary are refused before llama.cpp loads the model.
import assert from 'node:assert/strict';
import path from 'node:path';

import { GgufNotLoadableError } from '../../lib/eval/gguf-loadable.js';
import { createLlamaCppEvaluator } from '../../lib/eval/llama-cpp.js';
import { skipWithoutLlamaCpp } from './llama-cpp-available.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { F32_BASE, FORTUNES, tempDir, writeTemp } from '../helpers.js';
import { byteTokenizer, SP_TOKENIZER } from './tokenizers.js';

const quiet = () => {};

describe('llama.cpp evaluator with a tokenizer', function () {
  this.timeout(300_000);

  before(skipWithoutLlamaCpp);

  it('byte-identical tokenizer: the same NLL; another vocabulary: refused naming the GGUF and the id', async () => {
    const dir = tempDir('evolver-tok-llama-');
    const data = writeTemp(dir, 'dev.jsonl', '{"text": "Fortune favours the bold."}\n{"text": "héllo wörld"}\n');
    using weights = openWeights(F32_BASE);
    const nll = async (tokenizer?: string) => {
      const evaluator = createLlamaCppEvaluator({ data: [data], modelFolder: FORTUNES, threads: 2, log: quiet, ...(tokenizer === undefined ? {} : { tokenizer }) });
      try {
        return (await evaluator.evaluateSets(weights))[data]!;
      } finally {
        await evaluator.close();
      }
    };
    const bytes = await nll();
    assert.ok(Number.isFinite(bytes));
    assert.equal(await nll(byteTokenizer(dir)), bytes);
    await assert.rejects(nll(SP_TOKENIZER), (e: unknown) => e instanceof GgufNotLoadableError && /model\.gguf: its vocabulary has 257 tokens but the data hold token id 2(59|6\d|7[01])$/.test(e.message));
  });
});
