import type Database from "better-sqlite3";

export interface Migration {
  description: string;
  up: (db: Database.Database) => void;
}

// Append only: the position in this array (1-based) is the schema version stored in
// PRAGMA user_version. Never edit a migration that has shipped; add a new one.
export const migrations: readonly Migration[] = [
  {
    description: "events, alerts, actions, checkpoints",
    up: (db) => {
      db.exec(`
        CREATE TABLE events (
          id      TEXT PRIMARY KEY,
          ts      INTEGER NOT NULL, -- ms since the epoch, from @timestamp
          module  TEXT,
          action  TEXT,
          vm_name TEXT,
          host    TEXT,
          size    INTEGER NOT NULL, -- bytes of json, what retention by size counts
          json    TEXT NOT NULL
        );
        CREATE INDEX events_ts ON events(ts);
        -- (vm_name, ts) rather than (vm_name): a per-VM listing is then read in time order from the index.
        CREATE INDEX events_vm_name ON events(vm_name, ts);

        CREATE TABLE alerts (
          id          INTEGER PRIMARY KEY,
          rule_id     TEXT,
          rule_title  TEXT,
          severity    TEXT,
          entity_kind TEXT,
          entity      TEXT,
          vm_name     TEXT,
          first_seen  INTEGER,
          last_seen   INTEGER,
          count       INTEGER,
          status      TEXT DEFAULT 'open',
          event_ids   TEXT, -- JSON array of events.id
          json        TEXT
        );
        CREATE INDEX alerts_rule_entity ON alerts(rule_id, entity);

        CREATE TABLE actions (
          id          INTEGER PRIMARY KEY,
          alert_id    INTEGER,
          playbook    TEXT,
          action      TEXT,
          mode        TEXT,
          status      TEXT,
          approved_by TEXT,
          started     INTEGER,
          finished    INTEGER,
          result      TEXT,
          undo        TEXT,
          json        TEXT
        );

        CREATE TABLE checkpoints (
          source  TEXT PRIMARY KEY,
          inode   TEXT NOT NULL,
          "offset" INTEGER NOT NULL,
          updated INTEGER NOT NULL
        );
      `);
    },
  },
  {
    description: "self_actions: what hv itself did to a VM, so its own effects are not alerted on",
    up: (db) => {
      db.exec(`
        CREATE TABLE self_actions (
          id      INTEGER PRIMARY KEY,
          vm_name TEXT NOT NULL,
          vm_uuid TEXT,
          action  TEXT NOT NULL, -- pause, resume, snapshot, dump, …
          started INTEGER NOT NULL, -- ms since the epoch
          ended   INTEGER,          -- NULL while running
          pid     INTEGER           -- the hv process that did it
        );
        CREATE INDEX self_actions_vm ON self_actions(vm_name, started);
      `);
    },
  },
  {
    description: "threat feeds: specs and sync state, entries with provenance, sync history",
    up: (db) => {
      db.exec(`
        CREATE TABLE feeds (
          name          TEXT PRIMARY KEY,
          spec          TEXT NOT NULL,    -- FeedSpec as JSON
          added         INTEGER NOT NULL, -- ms since the epoch
          last_attempt  INTEGER,
          last_success  INTEGER,          -- last sync that applied or confirmed the set
          last_error    TEXT,
          etag          TEXT,
          last_modified TEXT,
          entries       INTEGER NOT NULL DEFAULT 0, -- size of the last good set
          rejected      INTEGER NOT NULL DEFAULT 0, -- entries rejected by the last applied sync
          version       INTEGER NOT NULL DEFAULT 0  -- grows each time the set changes
        );

        CREATE TABLE feed_entries (
          feed       TEXT NOT NULL REFERENCES feeds(name) ON DELETE CASCADE,
          value      TEXT NOT NULL, -- canonical indicator value
          kind       TEXT NOT NULL, -- ip, cidr, domain, url, hash
          meta       TEXT,          -- JSON object, or NULL
          first_seen TEXT NOT NULL, -- ISO time of the first sync that listed it
          last_seen  TEXT NOT NULL, -- ISO time of the latest sync that listed it
          PRIMARY KEY (feed, value)
        ) WITHOUT ROWID;
        CREATE INDEX feed_entries_value ON feed_entries(value);

        CREATE TABLE feed_syncs (
          id        INTEGER PRIMARY KEY,
          feed      TEXT NOT NULL,
          started   INTEGER NOT NULL,
          ms        INTEGER NOT NULL,
          status    TEXT NOT NULL, -- updated, unchanged, not-modified, rejected, failed
          reason    TEXT,
          http_status INTEGER,
          bytes     INTEGER,
          entries   INTEGER NOT NULL,
          added     INTEGER NOT NULL,
          removed   INTEGER NOT NULL,
          rejected  INTEGER NOT NULL,
          json      TEXT           -- rejects by reason, skipped by reason
        );
        CREATE INDEX feed_syncs_feed ON feed_syncs(feed, started);
      `);
    },
  },
  {
    description: "response: actions get target, params, schedule, TTL and undo; enforcements (quarantines, blocks, rate limits) in force",
    up: (db) => {
      db.exec(`
        ALTER TABLE actions ADD COLUMN target TEXT;        -- what it acts on: vm:NAME, ip:ADDR, process:PID, user:NAME, host
        ALTER TABLE actions ADD COLUMN params TEXT;        -- the playbook's parameters, JSON
        ALTER TABLE actions ADD COLUMN created INTEGER;    -- ms since the epoch
        ALTER TABLE actions ADD COLUMN not_before INTEGER; -- automatic with a delay: not run before this
        ALTER TABLE actions ADD COLUMN expires INTEGER;    -- TTL: a reversible action is undone at this time
        ALTER TABLE actions ADD COLUMN undone INTEGER;     -- when it was undone
        ALTER TABLE actions ADD COLUMN undone_by TEXT;     -- who undid it: a user, "ttl", …
        ALTER TABLE actions ADD COLUMN owner_pid INTEGER;  -- the hv process running it (status running)
        CREATE INDEX actions_status ON actions(status, not_before);
        CREATE INDEX actions_alert ON actions(alert_id);

        -- What is in force in nftables because of an action or a person: the firewall's desired
        -- state is built from the active rows, so they survive restarts and every process agrees.
        CREATE TABLE enforcements (
          id             INTEGER PRIMARY KEY,
          kind           TEXT NOT NULL,    -- quarantine, block, rate_limit
          target         TEXT NOT NULL,    -- VM name, or an address/CIDR
          json           TEXT,             -- kind-specific: vm uuid, last known taps, kept addresses, rate
          action_id      INTEGER,          -- the action that made it (NULL: by hand)
          created        INTEGER NOT NULL,
          created_by     TEXT,
          expires        INTEGER,          -- NULL: until released
          released       INTEGER,
          released_by    TEXT,
          release_reason TEXT
        );
        -- One active row per kind and target: enforcing twice is a no-op (idempotent actions).
        CREATE UNIQUE INDEX enforcements_active ON enforcements(kind, target) WHERE released IS NULL;
        CREATE INDEX enforcements_expires ON enforcements(expires) WHERE released IS NULL;
      `);
    },
  },
  {
    description: "REST API bearer tokens (only their SHA-256 is kept)",
    up: (db) => {
      db.exec(`
        CREATE TABLE api_tokens (
          id         INTEGER PRIMARY KEY,
          name       TEXT NOT NULL UNIQUE,
          role       TEXT NOT NULL,    -- viewer, operator, admin
          sha256     TEXT NOT NULL UNIQUE,
          created    INTEGER NOT NULL,
          created_by TEXT,
          last_used  INTEGER,
          revoked    INTEGER
        );
      `);
    },
  },
  {
    description: "alert routing (signals) and learned exceptions",
    up: (db) => {
      db.exec(`
        -- 1: stored and counted, not sent to sinks or playbooks (src/agent/routing.ts).
        ALTER TABLE alerts ADD COLUMN signal INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX alerts_signal_last_seen ON alerts(signal, last_seen);
        -- What detections happened while hv learned: one row per (rule, program lineage, user, VM).
        CREATE TABLE learning_observations (
          id          INTEGER PRIMARY KEY,
          rule_id     TEXT NOT NULL,
          rule_title  TEXT NOT NULL,
          severity    TEXT NOT NULL,
          executable  TEXT NOT NULL DEFAULT '',   -- '' = the event had none
          parent      TEXT NOT NULL DEFAULT '',
          user_name   TEXT NOT NULL DEFAULT '',   -- the process's user
          login_name  TEXT NOT NULL DEFAULT '',   -- who logged in (auid), whatever they became
          vm_name     TEXT NOT NULL DEFAULT '',
          count       INTEGER NOT NULL,
          first_seen  INTEGER NOT NULL,
          last_seen   INTEGER NOT NULL,
          protected   INTEGER NOT NULL DEFAULT 0, -- 1: hv's own high/critical rule, counted but never proposed
          UNIQUE (rule_id, executable, parent, user_name, login_name, vm_name)
        );
        -- Exceptions proposed from the observations; applied ones join the configured exceptions.
        CREATE TABLE learned_exceptions (
          id          INTEGER PRIMARY KEY,
          rule_id     TEXT NOT NULL,
          rule_title  TEXT NOT NULL,
          severity    TEXT NOT NULL,
          match       TEXT NOT NULL,              -- JSON: the exception's match block
          observed    INTEGER NOT NULL,           -- detections behind it while learning
          status      TEXT NOT NULL,              -- proposed, applied, revoked
          proposed    INTEGER NOT NULL,
          applied     INTEGER,
          expires     INTEGER,                    -- set when applied
          revoked     INTEGER,
          by          TEXT,                       -- who applied or revoked it (user, or 'learning' when automatic)
          UNIQUE (rule_id, match)
        );
      `);
    },
  },
];

export function schemaVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

/**
 * Brings the database up to the newest version this code knows, one migration per transaction,
 * so a failure leaves the database at the last version that fully applied. Returns the version.
 */
export function migrate(db: Database.Database, list: readonly Migration[] = migrations): number {
  const known = list.length;
  const found = schemaVersion(db);
  if (found > known) {
    // An older hv must not write into a schema it does not understand (e.g. after a downgrade).
    throw new Error(
      `store ${db.name} has schema version ${found}, but this hv knows only up to version ${known}; ` +
        `run a newer hv or point it at another store`,
    );
  }
  for (let version = found + 1; version <= known; version++) {
    const migration = list[version - 1]!;
    // IMMEDIATE takes the write lock before re-reading the version, so two processes opening the
    // same new store cannot both apply a migration.
    db.transaction(() => {
      if (schemaVersion(db) >= version) return;
      migration.up(db);
      db.pragma(`user_version = ${version}`);
    }).immediate();
  }
  return schemaVersion(db);
}
