// The paper's setting end to end on the encoder-classifier family: RegMean statistics from each
// member's training data, the one-shot RegMean merge, and examples/classifier/evolve-regmean.yaml
// (Evolver + RegMean) through the CLI, shortened to one generation.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { parse, stringify } from 'yaml';

import { createOnnxEvaluator } from '../../lib/eval/onnx.js';
import { readJournal } from '../../lib/evolve/journal.js';
import { loadMergeConfig } from '../../lib/merge/config.js';
import { runMerge } from '../../lib/merge/run.js';
import { regmeanStats } from '../../lib/stats/regmean-stats.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { ROOT, evolverCli, tempDir } from '../helpers.js';

const CLASSIFIER = path.join(ROOT, 'examples', 'classifier');
const MEMBERS = ['computers-people', 'definitions-politics', 'men-women-science', 'songs-poems-work'];
const model = (m: string) => path.join(CLASSIFIER, 'models', `${m}.safetensors`);

describe('the paper\'s setting on the classifier family (RegMean, Evolver + RegMean)', function () {
  this.timeout(600_000);
  const dir = tempDir();
  const stats = MEMBERS.map((m) => path.join(dir, 'stats', `${m}.grams.safetensors`));

  before(async () => {
    fs.mkdirSync(path.join(dir, 'stats'));
    for (const [i, m] of MEMBERS.entries()) {
      await regmeanStats({ model: model(m), graph: path.join(CLASSIFIER, 'classifier.onnx'), data: [path.join(CLASSIFIER, 'data', 'train', `${m}.jsonl`)], out: stats[i]!, maxExamples: 60 });
    }
  });

  it('finds the 20 nn.Linear layers of the encoder (out_in) and RegMean beats the simple average on dev macro-F1', async () => {
    using g = openWeights(stats[0]!);
    const layouts = JSON.parse(g.metadata.layouts!) as Record<string, string>;
    assert.equal(Object.keys(layouts).length, 20);
    assert.ok(Object.values(layouts).every((l) => l === 'out_in'));
    assert.ok(!('embeddings.word_embeddings.weight' in layouts));
    const merged = async (name: string, raw: Record<string, unknown>) => {
      const cfg = path.join(dir, `${name}.yml`);
      fs.writeFileSync(cfg, stringify(raw));
      await runMerge(loadMergeConfig(cfg), path.join(dir, name));
      return path.join(dir, name);
    };
    const average = await merged('average', { models: MEMBERS.map((m) => ({ model: model(m), parameters: { weight: 1 } })), merge_method: 'linear' });
    const regmean = await merged('regmean', { models: MEMBERS.map((m, i) => ({ model: model(m), parameters: { grams: stats[i] } })), merge_method: 'regmean', parameters: { alpha: 0.9 } });
    const dev = await createOnnxEvaluator({ graph: path.join(CLASSIFIER, 'classifier.onnx'), data: [path.join(CLASSIFIER, 'data', 'dev.jsonl')], metric: 'f1' });
    try {
      const score = async (f: string) => {
        using w = openWeights(f);
        return (await dev(w, { signal: new AbortController().signal })).score;
      };
      const [a, r] = [await score(average), await score(regmean)];
      assert.ok(r > a, `RegMean dev macro-F1 ${r} vs the average's ${a}`);
    } finally {
      await dev.close();
    }
  });

  it('examples/classifier/evolve-regmean.yaml runs (one generation): trials scored inside the RegMean merge, which never gets worse', () => {
    const raw = parse(fs.readFileSync(path.join(CLASSIFIER, 'evolve-regmean.yaml'), 'utf8')) as Record<string, unknown>;
    const config = path.join(CLASSIFIER, `.evolve-test-${process.pid}.yaml`);
    const output = path.join(dir, 'run');
    fs.writeFileSync(config, stringify({ ...raw, output, generations: 1, merger: { ...(raw.merger as object), stats } }));
    try {
      const r = evolverCli('evolve', config);
      assert.equal(r.code, 0, r.stderr);
      const entries = readJournal(path.join(output, 'journal.jsonl')).entries;
      assert.equal(entries.length, MEMBERS.length);
      let current = entries[0]!.parentFitness;
      for (const e of entries) {
        assert.equal(e.parentFitness, current);
        assert.equal(typeof e.mergedChecksum, 'string');
        if (e.accepted) current = e.fitness;
      }
      assert.match(r.stdout, /evolved \+ merger \(regmean\)/);
      assert.match(r.stdout, /out-of-domain/);
    } finally {
      fs.rmSync(config, { force: true });
    }
  });
});
