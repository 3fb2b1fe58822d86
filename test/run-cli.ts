// Runs the CLI from the TypeScript sources (tests use this instead of the built bin/).
import { main } from '../lib/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
