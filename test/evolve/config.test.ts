import assert from 'node:assert/strict';
import path from 'node:path';

import { ConfigError, loadConfig, validateConfig } from '../../lib/evolve/config.js';
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

  it('a file that is not YAML, or not a mapping, is a ConfigError naming it', () => {
    const dir = tempDir();
    const bad = writeTemp(dir, 'bad.yaml', 'models: [a, b\n');
    assert.throws(() => loadConfig(bad), (e: unknown) => e instanceof ConfigError && e.message.includes(bad) && /YAML/.test(e.message));
    const list = writeTemp(dir, 'list.yaml', '- a\n- b\n');
    assert.throws(() => loadConfig(list), (e: unknown) => e instanceof ConfigError && /mapping/.test(e.message));
    assert.throws(() => loadConfig(path.join(FORTUNES, 'nope.yaml')), ConfigError);
  });
});
