// Prints the include folder of Eigen 3 (header-only; RegMean's linear algebra) for binding.gyp:
// $EIGEN3_INCLUDE_DIR, else what pkg-config says, else the usual install places (Debian/Ubuntu
// libeigen3-dev, Homebrew, MacPorts, /usr/local). Exits 1 with a hint when none has it.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const has = (dir) => dir && fs.existsSync(path.join(dir, 'Eigen', 'Cholesky'));
const candidates = [process.env.EIGEN3_INCLUDE_DIR];
try {
  const flags = execFileSync('pkg-config', ['--cflags-only-I', 'eigen3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  for (const f of flags.split(/\s+/)) if (f.startsWith('-I')) candidates.push(f.slice(2));
} catch {
  // no pkg-config, or no eigen3.pc: try the usual places
}
candidates.push('/usr/include/eigen3', '/usr/local/include/eigen3', '/opt/homebrew/include/eigen3', '/opt/local/include/eigen3');
const found = candidates.find(has);
if (found === undefined) {
  process.stderr.write('evolver: Eigen 3 headers not found (needed to compile the addon). Install them (Debian/Ubuntu: apt-get install libeigen3-dev; macOS: brew install eigen) or set EIGEN3_INCLUDE_DIR.\n');
  process.exit(1);
}
process.stdout.write(found);
