// What a CLI command about response needs, built the way the agent builds it: the config, the
// store, the registry, an ActionEnv and a responder without playbooks (the CLI approves, undoes
// and acts by hand; only the agent reacts to alerts).

import type Database from "better-sqlite3";
import { loadAgentConfig, shippedPlaybooksDir, type AgentConfig } from "./config.js";
import { openStateStore, stateDirOf as resolveStateDir } from "../store/open.js";
import type { ActionEnv, ActionRegistry } from "../playbooks/action.js";
import { createResponder, type Responder, type ResponseSettings } from "../playbooks/engine.js";
import { buildActionEnv } from "../playbooks/env.js";
import { createRegistry } from "../playbooks/registry.js";

export interface CliOptions {
  stateDir?: string;
  config?: string;
}

export function readConfig(opts: CliOptions): AgentConfig {
  return opts.config ? loadAgentConfig(opts.config) : {};
}

export function stateDirOf(opts: CliOptions, config: AgentConfig): string {
  return resolveStateDir(opts.stateDir, config);
}

/** The playbook paths: given ones, else the config's, else hv's shipped defaults. */
export function playbookPaths(paths: string[], config: AgentConfig): string[] {
  return paths.length > 0 ? paths : (config.playbooks ?? [shippedPlaybooksDir()]);
}

export function responseSettings(config: AgentConfig): ResponseSettings {
  const r = config.response ?? {};
  return {
    ...(r.mode ? { mode: r.mode } : {}),
    ...(r.maxQuarantinesPerHour !== undefined ? { maxQuarantinesPerHour: r.maxQuarantinesPerHour } : {}),
    ...(r.alwaysConfirm ? { alwaysConfirm: r.alwaysConfirm } : {}),
  };
}

export interface ResponseContext {
  config: AgentConfig;
  stateDir: string;
  db: Database.Database;
  registry: ActionRegistry;
  env: ActionEnv;
  responder: Responder;
  close(): Promise<void>;
}

export function openResponse(opts: CliOptions): ResponseContext {
  const config = readConfig(opts);
  const stateDir = stateDirOf(opts, config);
  const db = openStateStore(stateDir);
  const registry = createRegistry();
  const env = buildActionEnv({ db, stateDir, config });
  const responder = createResponder({ db, registry, playbooks: [], env, response: responseSettings(config) });
  return {
    config,
    stateDir,
    db,
    registry,
    env,
    responder,
    async close() {
      await responder.close();
      await Promise.all(env.sinks.map((s) => s.close().catch(() => undefined)));
      db.close();
    },
  };
}
