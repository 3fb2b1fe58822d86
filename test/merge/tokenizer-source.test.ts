// mergekit's tokenizer_source: the named model's tokenizer files are carried into the output.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { ConfigError } from '../../lib/evolve/config.js';
import { loadMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { FORTUNES, tempDir } from '../helpers.js';

/** A Hugging Face folder: a fixture model, the example's config.json and a tokenizer named `tag`. */
function modelFolder(root: string, name: string, tag: string | undefined): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(FORTUNES, 'models', `${name}.safetensors`), path.join(dir, 'model.safetensors'));
  fs.copyFileSync(path.join(FORTUNES, 'config.json'), path.join(dir, 'config.json'));
  if (tag !== undefined) {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE', tag } }));
    fs.writeFileSync(path.join(dir, 'special_tokens_map.json'), JSON.stringify({ tag }));
  }
  return dir;
}

describe('merge: tokenizer_source', () => {
  const root = tempDir();
  modelFolder(root, 'base', 'from-base');
  modelFolder(root, 'science', 'from-science');
  modelFolder(root, 'politics', undefined);
  const merge = async (extra: Record<string, unknown>) => {
    const dir = tempDir();
    const file = path.join(root, `merge-${path.basename(dir)}.yml`);
    fs.writeFileSync(file, stringify({ merge_method: 'task_arithmetic', base_model: 'base', models: [{ model: 'politics', parameters: { weight: 0.5 } }, { model: 'science', parameters: { weight: 0.5 } }], ...extra }));
    const out = path.join(dir, 'out');
    await runMerge(loadMergeConfig(file), out);
    return out;
  };
  const tag = (out: string) => (JSON.parse(fs.readFileSync(path.join(out, 'tokenizer.json'), 'utf8')) as { model: { tag: string } }).model.tag;

  it("'base' and a model name carry that model's tokenizer files", async () => {
    assert.equal(tag(await merge({ tokenizer_source: 'base' })), 'from-base');
    const out = await merge({ tokenizer_source: 'science' });
    assert.equal(tag(out), 'from-science');
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'special_tokens_map.json'), 'utf8')), { tag: 'from-science' });
  });

  it("refuses 'union', a model that is not in the config, and a model without tokenizer files", async () => {
    await assert.rejects(merge({ tokenizer_source: 'union' }), (e: unknown) => e instanceof ConfigError && e.keyPath === 'tokenizer_source' && /not implemented/.test(e.message));
    await assert.rejects(merge({ tokenizer_source: 'computers' }), (e: unknown) => e instanceof ConfigError && /not base_model or one of the models/.test(e.message));
    await assert.rejects(merge({ tokenizer_source: 'politics' }), (e: unknown) => e instanceof ConfigError && /has no tokenizer files/.test(e.message));
  });
});
