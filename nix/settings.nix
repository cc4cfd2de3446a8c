# The agent's YAML configuration (src/agent/config.ts) made from the module's options.
#
# Only builtins, no nixpkgs `lib`: test/nix/settings.test.ts evaluates this very file with
# `nix-instantiate --eval` on example option values and validates the result with the agent's own
# loadAgentConfig, so the module cannot drift from the agent's schema silently.
#
# `cfg` is `config.hypervisor.monitor` (module.nix). The api, metrics, backup and fleet sections are
# written only when their feature is enabled.
{
  cfg,
  # Where systemd puts the fleet credentials (LoadCredential= of hv-monitor.service).
  credentialsPath ? "/run/credentials/hv-monitor.service/nats.creds",
}:
let
  inherit (builtins)
    attrNames
    filter
    isAttrs
    listToAttrs
    mapAttrs
    ;

  when = cond: attrs: if cond then attrs else { };

  # extraConfig wins, key by key, at every depth (lists are replaced, not appended).
  merge =
    a: b:
    a
    // mapAttrs (n: v: if isAttrs v && isAttrs (a.${n} or null) then merge a.${n} v else v) b;

  nonEmptyLists =
    attrs:
    listToAttrs (
      map (n: {
        name = n;
        value = attrs.${n};
      }) (filter (n: attrs.${n} != [ ]) (attrNames attrs))
    );

  c = cfg.collectors;

  allowlist = nonEmptyLists {
    inherit (cfg.allowlists)
      vms
      networks
      users
      processes
      managementInterfaces
      ;
  };

  generated =
    {
      stateDir = cfg.stateDir;
      rules = cfg.rules;
      playbooks = cfg.playbooks;
      flows = {
        conntrack = c.conntrack.enable;
      }
      // when c.netflow.enable {
        netflow = {
          inherit (c.netflow) address port;
        };
      };
      feeds = {
        # systemd timers sync the feeds (module.nix), so the agent's own scheduler stays off.
        schedule = !cfg.feedSync.timers;
      }
      // when (cfg.feedAllowlist != [ ]) { allowlist = cfg.feedAllowlist; };
      firewall.enabled = cfg.firewall.enable;
      response = {
        inherit (cfg) mode;
      }
      // when (allowlist != { }) { inherit allowlist; };
    }
    // when (cfg.dedupWindow != null) { inherit (cfg) dedupWindow; }
    // when (cfg.sinks != [ ]) { inherit (cfg) sinks; }
    // when (cfg.exceptions != [ ]) { inherit (cfg) exceptions; }
    // when cfg.api.enable {
      api = {
        enabled = true;
        host = cfg.api.address;
        inherit (cfg.api) port;
        console = {
          enabled = cfg.api.console.enable;
          inherit (cfg.api.console) sessionIdle sessionMax secureCookie;
        };
      };
    }
    // when cfg.metrics.enable {
      metrics = {
        enabled = true;
        host = cfg.metrics.address;
        inherit (cfg.metrics) port;
      };
    }
    // when cfg.backup.enable {
      backup = {
        inherit (cfg.backup) repository keep;
      }
      // when (cfg.backup.passwordFile != null) { inherit (cfg.backup) passwordFile; }
      // when (cfg.backup.vms != [ ]) { inherit (cfg.backup) vms; };
    }
    // when cfg.fleet.enable {
      fleet = {
        enabled = true;
        inherit (cfg.fleet) servers streamReplicas;
      }
      // when (cfg.fleet.credentialsFile != null) { credentials = credentialsPath; };
    };
in
merge generated cfg.extraConfig
