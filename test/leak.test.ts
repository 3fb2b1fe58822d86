// The native layer does not leak file descriptors or mappings: open/close many times, with
// views handed out and kernels run on them, and count /proc/self/fd and /proc/self/maps.
import assert from 'node:assert/strict';
import fs from 'node:fs';

import { stats } from '../lib/kernels/index.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { BF16_BASE } from './helpers.js';

/** Descriptors and mappings of this process that refer to the fixture file. */
function held(): { fds: number; maps: number } {
  let fds = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('base.safetensors')) fds++;
    } catch {
      // closed while listing
    }
  }
  const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('base.safetensors')).length;
  return { fds, maps };
}

describe('no leaks in the native layer', function () {
  this.timeout(60_000);
  it('500 open / view / kernel / close cycles leave no descriptor or mapping behind', async function () {
    if (!fs.existsSync('/proc/self/fd')) this.skip();
    for (let i = 0; i < 500; i++) {
      const f = SafetensorsFile.open(BF16_BASE);
      const v = f.view('transformer.wte.weight');
      await stats(v, 'BF16');
      f.close();
    }
    assert.deepEqual(held(), { fds: 0, maps: 0 });
  });
});
