#!/usr/bin/env node
// The `portcullis` command. Node 24 runs the TypeScript sources directly (type stripping); there is no build.
import { runCli } from '../src/cli/main.ts';

process.exitCode = await runCli(process.argv.slice(2));
