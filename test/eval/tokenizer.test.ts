// Model tokenizers for dev data (lib/eval/tokenizer.ts): exact ids from the two hand-written
// fixtures, BOS / end token rules, input_ids checked against the vocabulary, bad files.
//
// test/fixtures/tokenizers/gpt2-bpe: GPT-2 byte-level BPE whose 256 byte tokens have the byte's
// value as id (so, without merges, ids are the byte-level protocol's), merges h+e=256, l+l=257,
// he+ll=258, hell+o=259, Ġ+w=260, o+r=261, Ġw+or=262, <|endoftext|>=263 (config.json's eos).
// test/fixtures/tokenizers/sp-bpe: Llama-2 layout: <unk>=0 <s>=1 </s>=2, <0xNN>=NN+3, then
// ▁=259 h=260 e=261 l=262 o=263 w=264 r=265 d=266 ▁h=267 ll=268 ▁he=269 ▁hell=270 ▁hello=271;
// Metaspace (prepend ▁ to the first piece), byte fallback, add_bos_token: true.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { EvalDataError, readExamples } from '../../lib/eval/data.js';
import { loadTokenizer, TokenizerError } from '../../lib/eval/tokenizer.js';
import { ConfigError, validateConfig } from '../../lib/evolve/config.js';
import { fitnessTokenizerFile } from '../../lib/evolve/fitness-tokenizer.js';
import { onnxOptions } from '../../lib/evolve/fitness.js';
import { tempDir, writeTemp } from '../helpers.js';
import { GPT2_TOKENIZER as GPT2, SP_TOKENIZER as SP, TOKENIZER_FIXTURES as FIXTURES } from './tokenizers.js';
const ids = (a: Int32Array) => Array.from(a);

/** A folder with the sp fixture's tokenizer.json and the given tokenizer_config.json (none: undefined). */
function spVariant(tokenizerConfig: unknown, json: unknown = JSON.parse(fs.readFileSync(SP, 'utf8'))): string {
  const dir = tempDir('evolver-tok-');
  writeTemp(dir, 'tokenizer.json', JSON.stringify(json));
  if (tokenizerConfig !== undefined) writeTemp(dir, 'tokenizer_config.json', JSON.stringify(tokenizerConfig));
  return path.join(dir, 'tokenizer.json');
}

describe('model tokenizers for dev data', () => {
  it('GPT-2 byte-level BPE: merges by rank, bytes for the rest, no BOS, end token from config.json', () => {
    const t = loadTokenizer(GPT2);
    assert.equal(t.vocabSize, 264);
    assert.equal(t.bos, undefined);
    assert.equal(t.eos, 263);
    // "hello" -> hello; " world" -> Ġ w o r l d -> Ġw o r l d -> Ġw or l d -> Ġwor l d
    assert.deepEqual(ids(t.encode('hello world', 100, t.eos)), [259, 262, 108, 100, 263]);
    // é is bytes C3 A9 (one token each); l l merges, h+e cannot (not adjacent)
    assert.deepEqual(ids(t.encode('héllo', 100, t.eos)), [104, 195, 169, 257, 111, 263]);
    // "a", " ", " b": a run of two spaces leaves the first alone (GPT-2's \s+(?!\S))
    assert.deepEqual(ids(t.encode('a  b', 100, undefined)), [97, 32, 32, 98]);
    // Text without any merge gives exactly the byte-level protocol's ids
    assert.deepEqual(ids(t.encode('xyz!', 100, 263)), [...Buffer.from('xyz!'), 263]);
    // Truncation keeps the first maxLength ids (the end token is cut first)
    assert.deepEqual(ids(t.encode('hello world', 3, t.eos)), [259, 262, 108]);
  });

  it('SentencePiece-style BPE (Metaspace, byte fallback): BOS from add_bos_token, </s> at the end', () => {
    const t = loadTokenizer(SP);
    assert.equal(t.vocabSize, 272);
    assert.equal(t.bos, 1);
    assert.equal(t.eos, 2);
    // ▁hello (▁+h, l+l, ▁h+e, ▁he+ll, ▁hell+o) and ▁world (no merge: one piece per character)
    assert.deepEqual(ids(t.encode('hello world', 100, t.eos)), [1, 271, 259, 264, 263, 265, 262, 266, 2]);
    // é is not a piece: its bytes C3 A9 as <0xC3>=198 and <0xA9>=172
    assert.deepEqual(ids(t.encode('héllo', 100, t.eos)), [1, 267, 198, 172, 268, 263, 2]);
    // a leading space is the ▁ itself (not a second one); "a", "b" fall back to bytes 0x61+3, 0x62+3
    assert.deepEqual(ids(t.encode(' hello', 100, t.eos)), [1, 271, 2]);
    assert.deepEqual(ids(t.encode('a  b', 100, undefined)), [1, 259, 100, 259, 259, 101]);
    assert.deepEqual(ids(t.encode('', 100, t.eos)), [1, 2]);
    assert.deepEqual(ids(t.encode('hello world', 2, t.eos)), [1, 271]);
  });

  it('BOS without add_bos_token comes from the post-processor template; add_bos_token: false drops it', () => {
    assert.equal(loadTokenizer(spVariant(undefined)).bos, 1);  // TemplateProcessing "<s> $A"
    assert.equal(loadTokenizer(spVariant({ bos_token: '<s>' })).bos, 1);
    const off = loadTokenizer(spVariant({ add_bos_token: false, bos_token: '<s>' }));
    assert.equal(off.bos, undefined);
    assert.deepEqual(ids(off.encode('hello', 10, 2)), [271, 2]);
    // Inside a Sequence post-processor (Llama 3's [ByteLevel, TemplateProcessing])
    const json = JSON.parse(fs.readFileSync(SP, 'utf8'));
    json.post_processor = { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }, json.post_processor] };
    assert.equal(loadTokenizer(spVariant(undefined, json)).bos, 1);
    // bos_token given as {content}; the end token from tokenizer_config when no config.json says it
    const t = loadTokenizer(spVariant({ add_bos_token: true, bos_token: { content: '<s>' }, eos_token: { content: '</s>' } }));
    assert.equal(t.bos, 1);
    assert.equal(t.eos, 2);
  });

  // A text longer than 64 characters per kept token is encoded only up to a lone space past
  // that point: the ids must be exactly those of encoding the whole text, BOS and end included.
  it('a long text is tokenized only up to a cut that gives the same first ids', () => {
    const words = ['hello', 'world', 'héllo', 'or', 'w', 'hell', 'xyz', 'a', 'll'];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const parts: string[] = [];
    for (let i = 0; i < 3000; i++) parts.push(words[Math.floor(rand() * words.length)]!, rand() < 0.1 ? '  ' : ' ');
    for (const text of [parts.join(''), 'hello'.repeat(2000), `${'x'.repeat(5000)} hello`]) {  // the last two: no lone space to cut at
      for (const file of [GPT2, SP]) {
        const t = loadTokenizer(file);
        const full = ids(t.encode(text, 1e9, t.eos));
        for (const maxLength of [1, 2, 5, 17, 60]) assert.deepEqual(ids(t.encode(text, maxLength, t.eos)), full.slice(0, maxLength), `${file}, max_length ${maxLength}`);
      }
    }
  });

  it('readExamples: text lines through the tokenizer, input_ids as they are but inside the vocabulary', () => {
    const dir = tempDir('evolver-tok-data-');
    const data = writeTemp(dir, 'dev.jsonl', '{"text": "hello world"}\n{"input_ids": [5, 271, 0]}\n{"input_ids": [1, 2, 3], "label": 1}\n');
    const tokenizer = loadTokenizer(SP);
    const got = readExamples(data, { maxLength: 8, endToken: 2, tokenizer });
    assert.deepEqual(got.map((e) => ids(e.ids)), [[1, 271, 259, 264, 263, 265, 262, 266], [5, 271, 0], [1, 2, 3]]);
    // ids at the vocabulary's end: 272 is one past it, through the scanner and through JSON.parse
    for (const line of ['{"input_ids": [1, 272]}', '{"input_ids": [1, 272], "x": [1e0]}', '{"input_ids": [1.0, 272]}']) {
      const bad = writeTemp(dir, 'bad.jsonl', `{"text": "hello"}\n${line}\n`);
      assert.throws(() => readExamples(bad, { maxLength: 8, endToken: 2, tokenizer }),
        (e: unknown) => e instanceof EvalDataError && e.line === 2 && /holds 272, outside the vocabulary of .*sp-bpe\/tokenizer\.json \(ids 0\.\.271\)/.test(e.message), line);
    }
    // Only the ids kept after truncation count; without a tokenizer any id below 2^31 passes
    const long = writeTemp(dir, 'long.jsonl', '{"input_ids": [1, 2, 99999]}\n');
    assert.deepEqual(ids(readExamples(long, { maxLength: 2, endToken: 2, tokenizer })[0]!.ids), [1, 2]);
    assert.deepEqual(ids(readExamples(long, { maxLength: 8, endToken: 2 })[0]!.ids), [1, 2, 99999]);
    assert.throws(() => readExamples(long, { maxLength: 8, endToken: 2, tokenizer }), EvalDataError);
  });

  it('bad tokenizer files are TokenizerErrors naming the file', () => {
    const dir = tempDir('evolver-tok-bad-');
    const cases: [string, string, RegExp][] = [
      ['not-json.json', '{"model": ', /not-json\.json: the tokenizer\.json is not JSON/],
      ['list.json', '[1, 2]', /list\.json: the tokenizer\.json is not a JSON object/],
      ['no-model.json', '{"version": "1.0"}', /no-model\.json: not a tokenizer\.json: it has no 'model' object/],
      ['odd-model.json', '{"model": {"type": "Nope"}, "decoder": null, "post_processor": null, "normalizer": null, "pre_tokenizer": null, "added_tokens": []}', /odd-model\.json: @huggingface\/tokenizers cannot load it \(Unknown TokenizerModel type: Nope\)/],
      ['empty.json', '{"model": {"type": "BPE", "vocab": {}, "merges": []}, "decoder": null, "post_processor": null, "normalizer": null, "pre_tokenizer": null, "added_tokens": []}', /empty\.json: its vocabulary is empty/],
    ];
    for (const [name, text, message] of cases) {
      const file = writeTemp(dir, name, text);
      assert.throws(() => loadTokenizer(file), (e: unknown) => e instanceof TokenizerError && e.file === file && message.test(e.message), name);
    }
    const missing = path.join(dir, 'missing.json');
    assert.throws(() => loadTokenizer(missing), (e: unknown) => e instanceof TokenizerError && e.file === missing && /cannot read the tokenizer\.json \(ENOENT\)/.test(e.message));
    // A broken tokenizer_config.json beside it, and a BOS asked for that names no token
    const broken = spVariant(undefined);
    fs.writeFileSync(path.join(path.dirname(broken), 'tokenizer_config.json'), '{"add_bos_token": tru');
    assert.throws(() => loadTokenizer(broken), (e: unknown) => e instanceof TokenizerError && /tokenizer_config\.json: the tokenizer config is not JSON/.test(e.message));
    assert.throws(() => loadTokenizer(spVariant({ add_bos_token: true, bos_token: '<bos>' })), (e: unknown) => e instanceof TokenizerError && /tokenizer_config\.json: add_bos_token is true but/.test(e.message));
  });

  it('fitness configs: tokenizer is a path or false; the default is the model folder\'s tokenizer.json', () => {
    const base = { models: ['a.safetensors', 'b.safetensors'], output: 'run', seed: 1 };
    const c = validateConfig({ ...base, fitness: { type: 'onnx', graph: 'g.onnx', data: ['d.jsonl'], tokenizer: 'tok/tokenizer.json' } }, 'e.yaml');
    assert.equal((c.fitness as { tokenizer?: unknown }).tokenizer, 'tok/tokenizer.json');
    assert.equal((validateConfig({ ...base, fitness: { type: 'llama.cpp', data: ['d.jsonl'], tokenizer: false } }, 'e.yaml').fitness as { tokenizer?: unknown }).tokenizer, false);
    assert.throws(() => validateConfig({ ...base, fitness: { type: 'onnx', graph: 'g.onnx', data: ['d.jsonl'], tokenizer: 3 } }, 'e.yaml'), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.tokenizer');

    const dir = tempDir('evolver-tok-models-');
    const models = ['a.safetensors', 'b.safetensors'].map((m) => writeTemp(dir, m, ''));
    assert.equal(fitnessTokenizerFile(undefined, { models }), undefined);  // no config.json: not a model folder
    writeTemp(dir, 'config.json', '{}');
    assert.equal(fitnessTokenizerFile(undefined, { models }), undefined);  // no tokenizer.json: byte-level
    writeTemp(dir, 'tokenizer.json', '{}');
    assert.equal(fitnessTokenizerFile(undefined, { models }), path.join(dir, 'tokenizer.json'));
    assert.equal(fitnessTokenizerFile(false, { models }), undefined);
    assert.equal(fitnessTokenizerFile('/x/tokenizer.json', { models }), '/x/tokenizer.json');
    assert.equal(fitnessTokenizerFile(undefined, { models, copy_files_from: path.join(FIXTURES, 'sp-bpe') }), SP);
    // The onnx fitness loads it (the llama.cpp one goes through the same fitnessTokenizer)
    const f = validateConfig({ ...base, fitness: { type: 'onnx', graph: 'g.onnx', data: ['d.jsonl'] } }, 'e.yaml').fitness as Parameters<typeof onnxOptions>[0];
    const fixtureModels = [path.join(FIXTURES, 'sp-bpe'), path.join(FIXTURES, 'gpt2-bpe')];  // folders with a config.json
    assert.equal(onnxOptions(f, { models: fixtureModels }).tokenizer?.file, SP);
    assert.equal(onnxOptions({ ...f, tokenizer: false }, { models: fixtureModels }).tokenizer, undefined);
    assert.throws(() => onnxOptions({ ...f, tokenizer: path.join(dir, 'tokenizer.json') }, { models }), (e: unknown) => e instanceof TokenizerError && /has no 'model' object/.test(e.message));
  });
});
