import { Command } from "commander";
import { registerActions } from "./actions.js";
import { registerAlerts } from "./alerts.js";
import { registerApi } from "./api.js";
import { registerBackup } from "./backup.js";
import { registerEvents } from "./events.js";
import { registerFeeds } from "./feeds.js";
import { registerFirewall } from "./firewall.js";
import { registerFleet } from "./fleet.js";
import { registerFlows } from "./flows.js";
import { registerForensics } from "./forensics.js";
import { registerModel } from "./model.js";
import { registerMonitor } from "./monitor.js";
import { registerNet } from "./net.js";
import { registerPlaybooks } from "./playbooks.js";
import { registerPool } from "./pool.js";
import { registerPrivileged } from "./privileged.js";
import { registerQuarantine } from "./quarantine.js";
import { registerRules } from "./rules.js";
import { registerVersion } from "./version.js";
import { registerVm } from "./vm.js";

export function buildProgram(): Command {
  const program = new Command("hv")
    .description("Security monitoring and VM management for Hyper-NixOS KVM hosts")
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Examples:
  hv monitor                         watch this host live (audit log or audisp socket)
  hv monitor --replay audit.log      run the pipeline over a recorded log and exit
  hv events --replay audit.log --json   normalized events as JSON lines
  hv version --json`,
    );
  registerVersion(program);
  registerEvents(program);
  registerMonitor(program);
  registerAlerts(program);
  registerRules(program);
  registerVm(program);
  registerNet(program);
  registerPool(program);
  registerFlows(program);
  registerFeeds(program);
  registerFirewall(program);
  registerModel(program);
  registerPlaybooks(program);
  registerActions(program);
  registerQuarantine(program);
  registerForensics(program);
  registerBackup(program);
  registerPrivileged(program);
  registerFleet(program);
  registerApi(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
