#!/usr/bin/env node
// The `evolver` command. The CLI itself lives in lib/cli (compiled to dist/cli).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
