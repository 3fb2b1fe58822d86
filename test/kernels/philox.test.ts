import assert from 'node:assert/strict';

import { native } from '../../lib/native.js';
import { RUN_SEED, rng } from './inputs.js';
import { philoxBlock, philoxDraw } from './reference.js';

describe('Philox4x32-10', () => {
  it('matches the known answers of docs/design.md (native and TypeScript)', () => {
    const hex = (w: ArrayLike<number>) => Array.from(w, (x) => x.toString(16).padStart(8, '0')).join(' ');
    assert.equal(hex(native.kernels.philoxBlock(0, 0, 0, 0, 0, 0)), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const f = 0xffffffff;
    assert.equal(hex(native.kernels.philoxBlock(f, f, f, f, f, f)), '408f276d 41c83b0e a20bc7c6 6d5451fd');
    assert.equal(hex(philoxBlock([0, 0, 0, 0], [0, 0])), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    assert.equal(hex(philoxBlock([f, f, f, f], [f, f])), '408f276d 41c83b0e a20bc7c6 6d5451fd');
  });

  it('draw e is word e mod 4 of block floor(e/4), counter = (block, stream), key = seed', () => {
    const random = rng(RUN_SEED);
    for (let trial = 0; trial < 20; trial++) {
      const seed = BigInt(Math.floor(random() * 2 ** 32)) << 32n | BigInt(Math.floor(random() * 2 ** 32));
      const stream = BigInt(Math.floor(random() * 2 ** 40));
      // Block numbers past 2^32 exercise the counter's high word.
      const first = trial % 2 === 0 ? Math.floor(random() * 1000) : 2 ** 34 + Math.floor(random() * 1000);
      const got = native.kernels.philox({ seed, stream, first, count: 9 });
      for (let i = 0; i < 9; i++) assert.equal(got[i], philoxDraw(seed, stream, first + i), `seed ${seed} stream ${stream} draw ${first + i}`);
    }
  });
});
