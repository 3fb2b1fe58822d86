// Mocha global fixture (.mocharc.json `require`): every temporary file of the suite goes under
// one folder made for this mocha process, removed when the suite ends. Tests, the library and
// the processes they start all ask os.tmpdir(), which reads TMPDIR; without this, each run of
// the suite left a few GB of run folders and models behind in /tmp.
// EVOLVER_KEEP_TEST_TMP=1 keeps the folder (its path is printed) to look at after a failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

let suiteDir: string | undefined;

export function mochaGlobalSetup(): void {
  suiteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-suite-'));
  process.env.TMPDIR = suiteDir;
}

export function mochaGlobalTeardown(): void {
  if (suiteDir === undefined) return;
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
    fs.rmSync(suiteDir, { recursive: true, force: true });
  } catch (err) {
    console.warn(`could not remove the suite's temporary folder ${suiteDir}: ${(err as Error).message}`);
  }
}
