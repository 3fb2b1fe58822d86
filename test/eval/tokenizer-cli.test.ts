// `evolver eval --tokenizer` with ONNX Runtime on the bundled example: a tokenizer.json whose ids
// are the byte-level protocol's gives the byte-level score exactly; the model folder's
// tokenizer.json is the default (--no-tokenizer turns it off); a bad file is an error naming it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { BF16_BASE, FORTUNES, ROOT, tempDir, writeTemp } from '../helpers.js';
import { byteTokenizer, SP_TOKENIZER } from './tokenizers.js';

const GRAPH = path.join(FORTUNES, 'lm.onnx');
const DATA = path.join(FORTUNES, 'data', 'work', 'dev.jsonl');

const cli = (model: string, ...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'eval', '--model', model, '--graph', GRAPH, '--data', DATA, '--threads', '1', '--json', ...args], { encoding: 'utf8', cwd: ROOT });
const score = (r: ReturnType<typeof cli>) => {
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout.trim()) as { score: number }).score;
};

describe('evolver eval --tokenizer (onnx)', () => {
  it('a byte-identical tokenizer gives the byte-level score; the ids of another vocabulary reach the graph', () => {
    const dir = tempDir('evolver-tok-cli-');
    const bytes = score(cli(BF16_BASE));
    assert.equal(score(cli(BF16_BASE, '--tokenizer', byteTokenizer(dir))), bytes);
    // The SentencePiece fixture's ids (▁ = 259, ...) are not this 257-token model's: the
    // embedding lookup refuses them, which shows the texts went through that tokenizer
    const sp = cli(BF16_BASE, '--tokenizer', SP_TOKENIZER);
    assert.notEqual(sp.status, 0);
    assert.match(sp.stderr, /ONNX Runtime failed on a batch .* idx=2(5[7-9]|6\d|7[01]) must be within the inclusive range \[-257,256\]/);
  });

  it('the model folder\'s tokenizer.json is the default; a bad one is an error naming it; --no-tokenizer keeps bytes', () => {
    const dir = tempDir('evolver-tok-cli-');
    const model = path.join(dir, 'model.safetensors');
    fs.copyFileSync(BF16_BASE, model);
    fs.copyFileSync(path.join(FORTUNES, 'config.json'), path.join(dir, 'config.json'));
    const bad = writeTemp(dir, 'tokenizer.json', '{"model": ');
    const r = cli(model);
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes(`${bad}: the tokenizer.json is not JSON`), r.stderr);
    const bytes = score(cli(model, '--no-tokenizer'));
    byteTokenizer(dir);  // now a good one, picked up by default
    assert.equal(score(cli(model)), bytes);
  });
});
