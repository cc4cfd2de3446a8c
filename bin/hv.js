#!/usr/bin/env node
import { fail, main } from "../dist/src/cli/main.js";

main(process.argv).catch(fail);
