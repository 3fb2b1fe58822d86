/**
 * Benchmarks never overwrite committed results: a plain run writes a new file under
 * bench/results/local/ (ignored by git); only --save NAME / --out FILE write elsewhere.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { resultFile, resultsDir, targetFromArgv } from '../lib/bench/output.js';
import { ROOT, tempDir } from './helpers.js';

/** Every file under bench/ except the local results, with its hash and mtime. */
function snapshot(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== path.join(ROOT, 'bench', 'results', 'local')) walk(p);
      } else {
        out.set(p, `${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')} ${fs.statSync(p).mtimeMs}`);
      }
    }
  };
  walk(path.join(ROOT, 'bench'));
  return out;
}

function evolver(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A few seconds: one op, one dtype, scalar, 1 MiB operands.
const TINY = ['bench', 'kernels', '--quick', '--op', 'stats', '--dtype', 'f32', '--isa', 'scalar', '--threads', '1', '--size', '1MiB', '--reps', '1', '--no-numpy'];

describe('benchmark results', function () {
  this.timeout(120_000);

  it('default to a new, uncommitted file; --save NAME and --out FILE are the only other places', () => {
    const root = tempDir('evolver-bench-root-');
    fs.mkdirSync(path.join(root, 'bench'));
    const date = new Date(2026, 10, 26, 14, 30, 5);
    assert.equal(resultFile('kernels', {}, { root, date, host: 'vm', pid: 42 }), path.join(root, 'bench', 'results', 'local', 'kernels-vm-20261126-143005-42.json'));
    assert.equal(resultFile('kernels', { save: 'kernels-vm' }, { root }), path.join(root, 'bench', 'results', 'kernels-vm.json'));
    assert.equal(resultFile('kernels', { save: 'kernels-vm.json' }, { root }), path.join(root, 'bench', 'results', 'kernels-vm.json'));
    assert.equal(resultFile('kernels', { out: '/tmp/x.json' }, { root }), '/tmp/x.json');
    assert.throws(() => resultFile('kernels', { save: '../escape' }, { root }), /--save/);
    assert.throws(() => resultFile('kernels', { save: 'a', out: 'b' }, { root }), /not both/);
    // Two runs in the same second (different processes) never share a file.
    assert.notEqual(resultFile('e2e', {}, { root, date, host: 'vm', pid: 1 }), resultFile('e2e', {}, { root, date, host: 'vm', pid: 2 }));
    assert.deepEqual(targetFromArgv(['--size', '1GiB', '--save', 'merge-x']), { save: 'merge-x' });
    assert.deepEqual(targetFromArgv(['--out=/tmp/a.json']), { out: '/tmp/a.json' });
    assert.throws(() => targetFromArgv(['--out']), /expected a value/);
    assert.equal(resultsDir(ROOT), path.join(ROOT, 'bench', 'results'));
  });

  it('`evolver bench kernels --quick` touches no file under bench/ outside bench/results/local/, and says where it wrote', () => {
    const before = snapshot();
    const r = evolver(...TINY);
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.trimEnd().split('\n').pop()!;
    const m = /^wrote (\S+) \(local, not committed/.exec(line);
    assert.ok(m, line);
    const file = path.resolve(ROOT, m[1]!);
    try {
      assert.equal(path.dirname(file), path.join(ROOT, 'bench', 'results', 'local'));
      assert.match(path.basename(file), /^kernels-.+-\d{8}-\d{6}-\d+\.json$/);
      assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).results[0].op, 'stats');
      assert.deepEqual(snapshot(), before, 'no file under bench/ changed');
      const ignored = spawnSync('git', ['check-ignore', '-q', file], { cwd: ROOT });
      if (ignored.error === undefined && fs.existsSync(path.join(ROOT, '.git'))) assert.equal(ignored.status, 0, `${file} is ignored by git`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('--out FILE writes exactly that file', () => {
    const out = path.join(tempDir('evolver-bench-out-'), 'k.json');
    const r = evolver(...TINY, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(out));
    assert.match(r.stdout, /wrote \S+k\.json\n$/);
  });
});
