#!/usr/bin/env node
import { main } from "../dist/src/cli/main.js";
import { exitCodeOf } from "../dist/src/cli/errors.js";

main(process.argv).catch((err) => {
  process.stderr.write(`hv: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(exitCodeOf(err));
});
