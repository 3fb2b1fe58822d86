// User-supplied tensor-name regexes run on a linear-time engine (re2js): a catastrophic pattern
// cannot hang a run, and syntax RE2 lacks is a ConfigError naming the field and the pattern.
import assert from 'node:assert/strict';

import { ConfigError } from '../../lib/evolve/config.js';
import { selectTensors } from '../../lib/evolve/population.js';
import { compileNameRegex, nameRegexProblem } from '../../lib/evolve/tensor-regex.js';

describe('tensor-name regexes run in linear time', () => {
  it('(a+)+$ against a 100k-character name finishes in well under a second', () => {
    const long = 'a'.repeat(100_000) + '!';
    const t0 = performance.now();
    const { evolved, carried } = selectTensors([long, 'b.weight'], ['.*'], ['(a+)+$']);
    const ms = performance.now() - t0;
    assert.deepEqual(evolved, [long, 'b.weight']);  // `(a+)+$` does not match (the name ends in '!')
    assert.deepEqual(carried, []);
    assert.ok(ms < 500, `took ${ms.toFixed(0)} ms`);
    console.log(`      (a+)+$ vs a ${long.length}-char name: ${ms.toFixed(1)} ms`);
    // and when it does match
    assert.deepEqual(selectTensors(['a'.repeat(100_000)], ['(a+)+$'], []).evolved.length, 1);
  });

  it('matches like JavaScript RegExp.test (search anywhere, no flags) for ordinary patterns', () => {
    const names = ['lm_head.weight', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.10.mlp.c_fc.bias', 'transformer.wte.weight', 'score.weight', 'Transformer.ln_f.bias'];
    const patterns = ['.*', 'weight$', '^transformer\\.h\\.\\d+\\.', 'h\\.[0-9]{2}\\.', 'lm_head|score', '(?:attn|mlp)\\.c_', '^[a-z_]+\\.weight$', 'ln_f', '\\bwte\\b', '(?<layer>h\\.\\d)', '\\u0077te', 'T'];
    for (const p of patterns) {
      const re = new RegExp(p), linear = compileNameRegex(p);
      for (const n of names) assert.equal(linear.test(n), re.test(n), `${p} vs ${n}`);
    }
    assert.deepEqual(selectTensors(names, ['^transformer\\.'], ['bias$']), {
      evolved: ['transformer.h.0.attn.c_attn.weight', 'transformer.wte.weight'],
      carried: ['Transformer.ln_f.bias', 'lm_head.weight', 'score.weight', 'transformer.h.10.mlp.c_fc.bias'],
    });
  });

  it('a backreference or lookaround is a ConfigError naming the field and the pattern', () => {
    const cases: [string[], string[], string, RegExp][] = [
      [['(a)\\1'], [], 'include[0]', /backreference \(\\1\)/],
      [['.*'], ['x', '(?<n>a)\\k<n>'], 'exclude[1]', /named backreference/],
      [['^(?!lm_head)'], [], 'include[0]', /negative lookahead/],
      [['.*'], ['(?<=h\\.)0'], 'exclude[0]', /lookbehind/],
      [['(unclosed'], [], 'include[0]', /not a valid regular expression/],
    ];
    for (const [include, exclude, field, why] of cases) {
      const pattern = field.startsWith('include') ? include[Number(field.slice(8, -1))]! : exclude[Number(field.slice(8, -1))]!;
      assert.throws(() => selectTensors(['a.weight'], include, exclude, 'my-config.yaml'), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.file, 'my-config.yaml');
        assert.equal(e.keyPath, field);
        assert.ok(e.message.includes(JSON.stringify(pattern)), e.message);
        assert.match(e.message, why);
        return true;
      });
    }
    // Escaped, or inside a class, the same characters are fine.
    assert.equal(nameRegexProblem('\\\\1'), undefined);
    assert.equal(nameRegexProblem('a[(?=]b'), undefined);
    assert.equal(nameRegexProblem('\\(?=x\\)'), undefined);
  });
});
