import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { SpareFiles } from '../../lib/evolve/spare-files.js';
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

describe('spare member files (accepted offspring written over replaced members)', () => {
  it('keeps a second name of a member about to be replaced, up to the limit; take renames it; clear removes it', () => {
    const dir = tempDir('evolver-spares-');
    const trial = path.join(dir, 'trial');
    fs.mkdirSync(trial);
    const member = path.join(dir, 'member-0.safetensors');
    fs.writeFileSync(member, 'old member');
    const spares = new SpareFiles(trial, 1);
    spares.keep(member);
    spares.keep(member);  // over the limit: not kept
    spares.keep(path.join(dir, 'missing.safetensors'));  // nothing to keep
    assert.equal(spares.count, 1);
    // The member is replaced by a rename over it: the spare is now the only name of the old file.
    const next = path.join(dir, 'next.safetensors');
    fs.writeFileSync(next, 'new member');
    fs.renameSync(next, member);
    const dest = path.join(trial, 'k-7.safetensors');
    assert.equal(spares.take(dest), true);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old member');
    assert.equal(fs.readFileSync(member, 'utf8'), 'new member');
    assert.equal(spares.take(path.join(trial, 'k-8.safetensors')), false, 'none left');
    spares.keep(member);
    spares.clear();
    assert.deepEqual(fs.readdirSync(trial).sort(), ['k-7.safetensors']);
    assert.equal(fs.readFileSync(member, 'utf8'), 'new member', 'clear removes the second name only');
  });

  it('never hands out a spare that has another name (a member still in use there): it is dropped instead', () => {
    const dir = tempDir('evolver-spares-');
    const member = path.join(dir, 'member-0.safetensors');
    fs.writeFileSync(member, 'still the member');
    const spares = new SpareFiles(dir, 2);
    spares.keep(member);  // not replaced afterwards: member-0 and the spare are one file
    assert.equal(spares.take(path.join(dir, 'k-1.safetensors')), false);
    assert.equal(fs.existsSync(path.join(dir, 'k-1.safetensors')), false);
    assert.equal(spares.count, 0);
    assert.deepEqual(fs.readdirSync(dir), ['member-0.safetensors']);
    assert.equal(fs.readFileSync(member, 'utf8'), 'still the member');
  });

  it('a slot written over a longer file of the run is cut to size and reads back as the slot', async () => {
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
    } finally {
      slot.close();
    }
  });
});
