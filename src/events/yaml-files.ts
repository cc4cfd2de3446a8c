import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * Every *.yml / *.yaml under the paths, sorted, for rule and playbook directories (a file given
 * directly is read whatever its name). A path that does not exist throws, naming it.
 */
export function yamlFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, top: boolean): void => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) walk(join(p, name), false);
    } else if (top || /\.ya?ml$/i.test(p)) out.push(p);
  };
  for (const p of paths) walk(p, true);
  return out;
}
