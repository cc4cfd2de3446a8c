// `hv vm console` is interactive, so it is driven the way a person would: in tmux, reading the
// screen, detaching with Ctrl-]. The guest keeps running after the console detaches.
import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTestResources, GUEST_DIR, libvirtSkipReason, virsh, waitFor } from "../helpers/libvirt.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const HV = join(ROOT, "bin", "hv.js");
const PREFIX = `hvtest-con-${randomBytes(3).toString("hex")}-`;
const VM = `${PREFIX}vm`;
const TMUX = ["-L", `${PREFIX}tmux`];
const noTmux = existsSync("/usr/bin/tmux") ? undefined : "tmux is not installed";
const skip = libvirtSkipReason({ guest: true }) ?? noTmux;
if (noTmux && process.env.CI === "true") throw new Error(noTmux);
if (skip) console.warn(`\n*** hv vm console test SKIPPED: ${skip} ***\n`);

const hv = (...args: string[]) => execa(process.execPath, [HV, ...args], { reject: false });
const screen = async (): Promise<string> => (await execa("tmux", [...TMUX, "capture-pane", "-p", "-t", "con"], { reject: false })).stdout;

afterAll(async () => {
  await execa("tmux", [...TMUX, "kill-server"], { reject: false });
  await cleanupTestResources(PREFIX);
});

describe.skipIf(skip !== undefined)("hv vm console", () => {
  it("attaches to the running guest's serial console and detaches on Ctrl-], leaving it running", async () => {
    expect(existsSync(join(ROOT, "dist", "src", "cli", "main.js")), "run npm run build first").toBe(true);
    const created = await hv("vm", "create", VM, "--template", "kernel", "--kernel", join(GUEST_DIR, "vmlinuz"), "--initrd", join(GUEST_DIR, "initrd.img"), "--network", "none", "--start", "--json");
    expect(created.exitCode, created.stderr).toBe(0);
    await execa("tmux", [...TMUX, "new-session", "-d", "-s", "con", "-x", "120", "-y", "30", `${process.execPath} ${HV} vm console ${VM}`]);
    await waitFor(async () => (await screen()).includes(`Connected to domain '${VM}'`), 20_000, "the console to attach");
    await execa("tmux", [...TMUX, "send-keys", "-t", "con", "C-]"]);
    await waitFor(async () => (await execa("tmux", [...TMUX, "has-session", "-t", "con"], { reject: false })).exitCode !== 0, 10_000, "the console to detach");
    expect((await virsh("domstate", VM)).trim()).toBe("running");
  }, 60_000);
});
