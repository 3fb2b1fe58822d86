import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { SpareFiles } from '../../lib/evolve/spare-files.js';
import { tempDir } from '../helpers.js';

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

  it('never keeps a member that is a symbolic link (its target must not be written over)', () => {
    const dir = tempDir('evolver-spares-');
    const outside = path.join(dir, 'outside.safetensors');
    fs.writeFileSync(outside, 'not the run\'s');
    const member = path.join(dir, 'member-0.safetensors');
    fs.symlinkSync(outside, member);
    const spares = new SpareFiles(dir, 1);
    assert.equal(spares.keep(member), false);
    assert.equal(spares.count, 0);
    assert.equal(spares.take(path.join(dir, 'k-1.safetensors')), false);
    assert.equal(fs.readFileSync(outside, 'utf8'), 'not the run\'s');
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
});
