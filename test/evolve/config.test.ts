import assert from 'node:assert/strict';
import path from 'node:path';

import { ConfigError, loadConfig, validateConfig } from '../../lib/evolve/config.js';
import { evaluatorFor } from '../../lib/evolve/fitness.js';
import { FORTUNES, tempDir, writeTemp } from '../helpers.js';

const base = { models: ['a.safetensors', 'b.safetensors', 'c.safetensors'], output: 'run', seed: 1, fitness: { type: 'module', path: 'f.mjs' } };
const expectError = (raw: unknown, keyPath: string, pattern: RegExp) =>
  assert.throws(() => validateConfig(raw, 'cfg.yaml'), (e: unknown) => e instanceof ConfigError && e.keyPath === keyPath && pattern.test(e.message) && e.message.startsWith('cfg.yaml: '));

describe('evolve config (YAML, zod schema)', () => {
  it('fills defaults and resolves paths relative to the config file', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'evolve.yaml', 'models: [a.safetensors, b.safetensors, c.safetensors]\noutput: out\nseed: 3\nfitness: {type: module, path: f.mjs}\n');
    const c = loadConfig(file);
    assert.equal(c.strategy, 'interp');
    assert.equal(c.F, 0.3);
    assert.equal(c.CR, 0.9);
    assert.equal(c.schedule, 'sequential');
    assert.deepEqual(c.models, ['a', 'b', 'c'].map((m) => path.join(dir, `${m}.safetensors`)));
    assert.equal(c.output, path.join(dir, 'out'));
  });

  it('names the key path and what was expected', () => {
    expectError({ ...base, seed: 'x' }, 'seed', /number/i);
    expectError({ ...base, models: ['only-one'] }, 'models', /at least 2/);
    expectError({ ...base, strategy: 'best/2' }, 'strategy', /current\/1/);
    expectError({ ...base, CR: 1.5 }, 'CR', /1/);
    expectError({ ...base, F: [0.9, 0.1] }, 'F', /low <= high/);
    expectError({ ...base, include: ['(unclosed'] }, 'include[0]', /regular expression/);
    expectError({ ...base, fitness: { type: 'module' } }, 'fitness.path', /expected string/i);
    expectError({ ...base, fitness: { type: 'magic' } }, 'fitness.type', /module|onnx|discriminat/i);
    expectError({ ...base, generatons: 4 }, '', /generatons/);
    expectError({ ...base, models: undefined }, 'models', /expected array/i);
  });

  it('fitness type llama.cpp: defaults, resolved data paths, checked values', async () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'evolve.yaml', 'models: [a.safetensors, b.safetensors, c.safetensors]\noutput: out\nseed: 3\nfitness: {type: llama.cpp, data: [dev.jsonl, {file: d2.jsonl, weight: 2}]}\n');
    const c = loadConfig(file);
    assert.deepEqual(c.fitness, { type: 'llama.cpp', data: [path.join(dir, 'dev.jsonl'), { file: path.join(dir, 'd2.jsonl'), weight: 2 }], metric: 'nll', gpu_layers: 'auto', text_field: 'text' });
    const llama = (f: Record<string, unknown>) => ({ ...base, fitness: { type: 'llama.cpp', data: ['dev.jsonl'], ...f } });
    expectError(llama({ gpu_layers: 'all' }), 'fitness.gpu_layers', /expected auto or a number of layers/);
    expectError(llama({ gpu_layers: -1 }), 'fitness.gpu_layers', />=0/);
    expectError(llama({ metric: 'accuracy' }), 'fitness.metric', /nll/);
    expectError(llama({ threads: 0 }), 'fitness.threads', />=1|1/);
    expectError(llama({ graph: 'lm.onnx' }), 'fitness', /graph/);
    expectError({ ...base, fitness: { type: 'llama.cpp' } }, 'fitness.data', /expected array/i);
    // No config.json beside the models: the GGUF export of every offspring would fail, so the config does.
    await assert.rejects(evaluatorFor(c, file), (e: unknown) => e instanceof ConfigError && e.keyPath === 'fitness.type' && /config\.json/.test(e.message));
  });

  it('a file that is not YAML, or not a mapping, is a ConfigError naming it', () => {
    const dir = tempDir();
    const bad = writeTemp(dir, 'bad.yaml', 'models: [a, b\n');
    assert.throws(() => loadConfig(bad), (e: unknown) => e instanceof ConfigError && e.message.includes(bad) && /YAML/.test(e.message));
    const list = writeTemp(dir, 'list.yaml', '- a\n- b\n');
    assert.throws(() => loadConfig(list), (e: unknown) => e instanceof ConfigError && /mapping/.test(e.message));
    assert.throws(() => loadConfig(path.join(FORTUNES, 'nope.yaml')), ConfigError);
  });
});
