// Mocha `require` file (.mocharc.json): every temporary file of the suite goes under one folder
// made for this mocha process, removed when the suite ends. Tests, the library and the
// processes they start all ask os.tmpdir(), which reads TMPDIR; without this, each run of the
// suite left a few GB of run folders and models behind in /tmp.
// The folder is made when this file is loaded, before mocha loads the test files (some make
// their folders in a describe() body, at load time). EVOLVER_KEEP_TEST_TMP=1 keeps it (its path
// is printed) to look at after a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const OWNER = 'EVOLVER_TEST_SUITE_DIR';

function makeSuiteDir(): string {
  const outside = os.tmpdir();
  // realpath: /proc/mounts names the real path of a tmpfs a test mounted under the folder.
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(outside, 'evolver-suite-')));
  // tsx keeps its compile cache in $TMPDIR/tsx-<uid>: the processes the tests start share the
  // one outside instead of compiling everything again into an empty one.
  const cache = `tsx-${process.geteuid?.() ?? os.userInfo().username}`;
  try {
    fs.mkdirSync(path.join(outside, cache), { recursive: true });
    fs.symlinkSync(path.join(outside, cache), path.join(dir, cache));
  } catch {
    // no shared cache: tsx makes its own in the folder
  }
  return dir;
}

// A parallel mocha worker loads this file too: it uses the folder its parent made.
const suiteDir = process.env[OWNER] ?? makeSuiteDir();
const owner = process.env[OWNER] === undefined;
process.env[OWNER] = suiteDir;
process.env.TMPDIR = suiteDir;

export function mochaGlobalTeardown(): void {
  if (!owner) return;
  if (process.env.EVOLVER_KEEP_TEST_TMP === '1') {
    console.log(`test files kept in ${suiteDir}`);
    return;
  }
  // A full-disk test that failed midway may have left its tmpfs mounted under the folder.
  const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
  for (const m of mounts.filter((m) => m.startsWith(suiteDir + '/')).reverse()) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      // left mounted: rmSync below reports the folder it could not remove
    }
  }
  try {
    // Symbolic links (the tsx cache) are removed, not followed.
    fs.rmSync(suiteDir, { recursive: true, force: true });
  } catch (err) {
    console.warn(`could not remove the suite's temporary folder ${suiteDir}: ${(err as Error).message}`);
  }
}
