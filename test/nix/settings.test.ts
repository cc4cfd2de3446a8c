// The module cannot drift from the agent's config schema silently: nix/settings.nix (the code
// module.nix uses to write /etc/hv/hv.yaml) is evaluated with the real nix-instantiate on the
// option values of test/nix/settings-examples.nix, and the result is loaded by the agent's own
// loadAgentConfig (strict zod schema: an unknown or mistyped key is an error).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../src/agent/config.js";
import { evalNix, nixSkipReason } from "./nix.js";

const skip = await nixSkipReason();

/**
 * Top-level keys the module writes for features other helpers are adding to the agent (issue 8).
 * While the schema lacks one, it is checked alone, reported loudly, and left out of the full
 * check; once the schema has it, it is validated like every other key.
 */

const dir = mkdtempSync(join(tmpdir(), "hv-nix-settings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function load(config: unknown): ReturnType<typeof loadAgentConfig> {
  // JSON is YAML: the module's pkgs.formats.yaml writes the same data.
  const path = join(dir, `hv-${n++}.yaml`);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return loadAgentConfig(path);
}

const settingsOf = async (example: string, extra = ""): Promise<Record<string, unknown>> =>
  (await evalNix(`import ./nix/settings.nix { cfg = (import ./test/nix/settings-examples.nix).${example}${extra}; }`)) as Record<string, unknown>;

describe.skipIf(skip !== undefined)("nix/settings.nix → /etc/hv/hv.yaml", () => {
  it("with every option at its default, loads in the agent and has only keys it knows today", async () => {
    const config = await settingsOf("defaults");
    // Features off by default are not written at all.
    for (const key of ["api", "metrics", "fleet", "backup"]) expect(config).not.toHaveProperty(key);
    const loaded = load(config);
    expect(loaded.stateDir).toBe("/var/lib/hv");
    expect(loaded.response?.mode).toBe("monitor");
    // systemd timers sync the feeds, so the agent's scheduler is off.
    expect(loaded.feeds?.schedule).toBe(false);
    expect(loaded.flows).toEqual({ conntrack: true });
    expect(loaded.rules?.[0]).toMatch(/\/lib\/node_modules\/hv\/rules\/hv$/);
  });

  it("with every option set, loads in the agent", async () => {
    const config = await settingsOf("full");
    const loaded = load(config);
    expect(loaded).toMatchObject({
      api: { enabled: true, host: "127.0.0.1", port: 8787, console: { enabled: true, sessionIdle: "15m", sessionMax: "12h", secureCookie: true } },
      metrics: { enabled: true, host: "0.0.0.0", port: 9464 },
      fleet: { enabled: true, servers: ["nats://10.0.0.5:4222", "nats://10.0.0.6:4222", "nats://10.0.0.7:4222"], streamReplicas: 3, credentials: "/run/credentials/hv-monitor.service/nats.creds" },
      backup: { repository: "sftp:backup@10.0.0.9:/srv/hv", passwordFile: "/run/keys/hv-backup.pass", vms: ["web1", "db1"], keep: { daily: 14, monthly: 12 } },
    });
    expect(loaded.response).toEqual({
      mode: "playbooks",
      allowlist: { vms: ["dc1"], networks: ["10.0.0.0/8"], users: ["admin"], processes: ["/run/current-system/sw/bin/borg"], managementInterfaces: ["eno1"] },
      // from extraConfig, merged into the generated response section rather than replacing it
      maxQuarantinesPerHour: 2,
    });
    expect(loaded.flows).toEqual({ conntrack: true, netflow: { address: "0.0.0.0", port: 2055 } });
    expect(loaded.feeds).toEqual({ schedule: true, allowlist: ["10.10.0.0/16"] });
    expect(loaded.sinks).toHaveLength(2);
    expect(loaded.dedupWindow).toBe("15m");
  });

  it("drops empty allowlists instead of writing empty lists", async () => {
    const config = await settingsOf("defaults", ` // { allowlists = (import ./test/nix/settings-examples.nix).defaults.allowlists // { users = [ "ops" ]; }; }`);
    expect((config.response as Record<string, unknown>).allowlist).toEqual({ users: ["ops"] });
  });

  it("a key the agent does not know makes the check fail (the guard works)", async () => {
    const config = await settingsOf("defaults", ` // { extraConfig = { respons.mode = "playbooks"; }; }`);
    expect(() => load(config)).toThrow(/respons/);
    const typo = await settingsOf("defaults", ` // { dedupWindow = "ten minutes"; }`);
    expect(() => load(typo)).toThrow(/dedupWindow/);
  });
});
