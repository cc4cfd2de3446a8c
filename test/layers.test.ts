// The layer check that `npm run lint` runs (dependency-cruiser with .dependency-cruiser.cjs) is
// shown to fail: the same command, run over a small tree laid out like src/, reports each import
// that runs up the layers by its rule and exits non-zero, and passes the same tree once the bad
// imports are gone.

import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "..");
const depcruise = join(repo, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");

let dir = "";

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(join(dir, path)), { recursive: true });
  await writeFile(join(dir, path), text);
}

/** Runs the layer check as `npm run lint:layers` does, in `dir`. */
async function checkLayers(): Promise<{ code: number; output: string }> {
  try {
    // Plain text whatever the environment: under CI=true (or a terminal) its report is coloured.
    const env = { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" };
    const { stdout, stderr } = await run(process.execPath, [depcruise, "src", "--config", ".dependency-cruiser.cjs"], { cwd: dir, env });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hv-layers-"));
  await copyFile(join(repo, ".dependency-cruiser.cjs"), join(dir, ".dependency-cruiser.cjs"));
  await put("tsconfig.json", JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", strict: true } }));
  await put("src/events/alert.ts", "export type Alert = { id: string };\n");
  await put("src/store/alerts.ts", 'import type { Alert } from "../events/alert.js";\nexport const saved: Alert[] = [];\n');
  await put("src/cli/render.ts", "export function render(s: string): string { return s; }\n");
  await put("src/api/server.ts", 'import { saved } from "../store/alerts.js";\nexport const n = saved.length;\n');
  await put("src/agent/agent.ts", 'import { saved } from "../store/alerts.js";\nexport const count = saved.length;\n');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the layer check in npm run lint", () => {
  it("passes a tree whose imports only run down the layers", async () => {
    const { code, output } = await checkLayers();
    expect(output).toContain("no dependency violations found");
    expect(code).toBe(0);
  });

  it("reports each import that runs up the layers, by rule, and exits non-zero", async () => {
    // events reaching into the store; a collector into the CLI; a playbook into the agent (a
    // type-only import counts too); the agent into the API; the API into the CLI.
    await put("src/events/bad.ts", 'import { saved } from "../store/alerts.js";\nexport const x = saved;\n');
    await put("src/collectors/audit/bad.ts", 'import { render } from "../../cli/render.js";\nexport const y = render("a");\n');
    await put("src/playbooks/bad.ts", 'import type { count } from "../agent/agent.js";\nexport type Z = typeof count;\n');
    await put("src/agent/bad.ts", 'import { n } from "../api/server.js";\nexport const w = n;\n');
    await put("src/api/bad.ts", 'import { render } from "../cli/render.js";\nexport const v = render("b");\n');
    const { code, output } = await checkLayers();
    expect(code).not.toBe(0);
    expect(output).toMatch(/events-stand-alone: src\/events\/bad\.ts → src\/store\/alerts\.ts/);
    expect(output).toMatch(/stages-below-agent: src\/collectors\/audit\/bad\.ts → src\/cli\/render\.ts/);
    expect(output).toMatch(/stages-below-agent: src\/playbooks\/bad\.ts → src\/agent\/agent\.ts/);
    expect(output).toMatch(/agent-below-api-and-cli: src\/agent\/bad\.ts → src\/api\/server\.ts/);
    expect(output).toMatch(/api-beside-cli: src\/api\/bad\.ts → src\/cli\/render\.ts/);
    expect(output).toMatch(/5 dependency violations/);
  });
});
