// Where hv's configuration is when no --config is given. Its own small module: the CLI applies it
// to every command before the command runs, and must not load the config schemas to do so.

import { existsSync } from "node:fs";

export const DEFAULT_CONFIG_PATH = "/etc/hv/hv.yaml";

/** The flag's file, else $HV_CONFIG, else /etc/hv/hv.yaml when it exists; undefined: run on the defaults. */
export function resolveConfigPath(flag?: string): string | undefined {
  if (flag) return flag;
  if (process.env.HV_CONFIG) return process.env.HV_CONFIG;
  return existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined;
}
