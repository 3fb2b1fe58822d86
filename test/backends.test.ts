import assert from 'node:assert/strict';

import { backends } from '../lib/index.js';

describe('backends()', () => {
  it('reports every backend with availability, and CUDA unavailable with a reason when there is no GPU', () => {
    const list = backends();
    assert.deepEqual(list.map((b) => b.name), ['scalar', 'avx2', 'avx512', 'neon', 'cuda']);
    const cuda = list.find((b) => b.name === 'cuda')!;
    if (!cuda.available) assert.match(cuda.reason!, /CUDA|GPU|cuda/);
    const isX86 = process.arch === 'x64';
    assert.equal(list.find((b) => b.name === 'neon')!.available, process.arch === 'arm64');
    if (!isX86) assert.equal(list.find((b) => b.name === 'avx2')!.available, false);
  });
});
