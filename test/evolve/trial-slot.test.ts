import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { TrialSlot } from '../../lib/evolve/trial-slot.js';
import { tensorPlan } from '../../lib/evolve/population.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { tempDir } from '../helpers.js';
import { BF16_MODELS } from './helpers.js';

/** The size a safetensors file must have: 8 + header + the end of the last tensor's data. */
function expectedSize(file: string): number {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
  return 8 + headerLength + Math.max(...Object.values(header).map((t) => t.data_offsets?.[1] ?? 0));
}

describe('the trial slot (an offspring in memory)', () => {
  it('hands out the same views trial after trial (fresh views of a gigabyte per trial set off major GCs)', () => {
    using model = openWeights(BF16_MODELS[0]!);
    const slot = TrialSlot.create(tensorPlan(model, model.names()), model, 'views-test');
    try {
      for (const name of model.names()) {
        const first = slot.chunks(name), again = slot.chunks(name);
        assert.notEqual(first, again, 'a new array: the caller may change it');
        assert.equal(first.length, again.length);
        first.forEach((v, i) => assert.equal(v.buffer, again[i]!.buffer, name));
      }
    } finally {
      slot.close();
    }
  });

  it('takes and maps all its memory when made: writing the slot and reading it back fault no pages in', function () {
    // MADV_POPULATE_READ/WRITE came with Linux 5.14; before it the slot is faulted in lazily.
    const [major, minor] = os.release().split('.').map(Number);
    if (major! < 5 || (major === 5 && minor! < 14)) this.skip();
    using model = openWeights(BF16_MODELS[0]!);
    const slot = TrialSlot.create(tensorPlan(model, model.names()), model, 'reserve-test');
    try {
      const pages = slot.bytes / 4096;
      assert.ok(pages > 300, `a slot of ${pages} pages`);
      const before = process.resourceUsage().minorPageFault;
      let sum = 0;
      for (const name of model.names()) {
        for (const view of slot.chunks(name)) view.fill(7);
        for (const view of slot.weights.chunks(name)) for (let i = 0; i < view.length; i += 4096) sum += view[i]!;
      }
      const faults = process.resourceUsage().minorPageFault - before;
      assert.ok(sum > 0);
      // Made lazily, the slot faults in every page twice (its writable and its read-only mapping).
      assert.ok(faults < pages / 10, `${faults} page faults for a slot of ${pages} pages`);
    } finally {
      slot.close();
    }
  });

  it('a slot written over a longer or a shorter file is cut to size and reads back as the slot; never through a symbolic link', async () => {
    const dir = tempDir('evolver-spares-');
    using model = openWeights(BF16_MODELS[0]!);
    const slot = TrialSlot.create(tensorPlan(model, model.names()), model, 'spare-test');
    try {
      for (const name of model.names()) {
        const chunks = slot.chunks(name);
        const source = model.chunks(name);
        chunks.forEach((c, i) => c.set(source[i]!));
      }
      const file = path.join(dir, 'k-1.safetensors');
      // The old file's header is longer (more metadata) and it ends with bytes of its own.
      await (await slot.persist(file, { evolver_trial: '1', note: 'x'.repeat(300) })).durable;
      fs.appendFileSync(file, Buffer.alloc(4096, 0xab));
      const longer = fs.statSync(file).size;
      await (await slot.persist(file, { evolver_trial: '22' }, true)).durable;
      assert.ok(fs.statSync(file).size < longer);
      assert.equal(fs.statSync(file).size, expectedSize(file));
      using written = openWeights(file);
      assert.equal(written.metadata.evolver_trial, '22');
      assert.equal(written.metadata.note, undefined);
      for (const name of model.names()) assert.ok(Buffer.from(written.bytes(name)).equals(Buffer.from(model.bytes(name))), name);
      // A new file may not exist yet: without `overwrite`, an existing file is an error, not written over.
      await assert.rejects(slot.persist(file, { evolver_trial: '23' }), /exists|EEXIST/);
      using again = openWeights(file);
      assert.equal(again.metadata.evolver_trial, '22');
      // Over a shorter file: it grows to size.
      fs.truncateSync(file, 1000);
      await (await slot.persist(file, { evolver_trial: '24' }, true)).durable;
      assert.equal(fs.statSync(file).size, expectedSize(file));
      using grown = openWeights(file);
      for (const name of model.names()) assert.ok(Buffer.from(grown.bytes(name)).equals(Buffer.from(model.bytes(name))), name);
      // Written over through its own name only: a symbolic link is refused and its target kept.
      const target = path.join(dir, 'target.bin');
      fs.writeFileSync(target, 'someone else\'s');
      const link = path.join(dir, 'k-25.safetensors');
      fs.symlinkSync(target, link);
      await assert.rejects(slot.persist(link, { evolver_trial: '25' }, true));
      assert.equal(fs.readFileSync(target, 'utf8'), 'someone else\'s');
    } finally {
      slot.close();
    }
  });
});
