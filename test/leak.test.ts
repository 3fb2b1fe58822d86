// The native layer does not leak file descriptors or mappings: open/close many times, with
// views handed out and kernels run on them, and count /proc/self/fd and /proc/self/maps.
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { stats } from '../lib/kernels/index.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { BF16_BASE } from './helpers.js';

const count = (file: string) => (file.endsWith('fd') ? fs.readdirSync(file).length : fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('base.safetensors')).length);

describe('no leaks in the native layer', function () {
  this.timeout(60_000);
  it('500 open / view / kernel / close cycles leave no descriptor or mapping behind', async function () {
    if (!fs.existsSync('/proc/self/fd')) this.skip();
    const fds = count('/proc/self/fd');
    for (let i = 0; i < 500; i++) {
      const f = SafetensorsFile.open(BF16_BASE);
      const v = f.view('transformer.wte.weight');
      await stats(v, 'BF16');
      f.close();
    }
    assert.equal(count('/proc/self/fd'), fds, 'file descriptors');
    assert.equal(count('/proc/self/maps'), 0, 'mappings of the file');
  });
});
