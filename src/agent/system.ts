// Facts about the machine the agent decides on: which tools exist, whether it runs as root.

import { existsSync } from "node:fs";
import { join } from "node:path";

export function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, command)));
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
