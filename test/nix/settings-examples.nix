# Option values for nix/settings.nix, as module.nix would hand them over (config.hypervisor.monitor):
# `defaults` is every option at its default (keep in step with module.nix), `full` sets everything.
# test/nix/settings.test.ts evaluates nix/settings.nix on both and validates the YAML with the agent.
let
  pkg = "/nix/store/00000000000000000000000000000000-hv-0.1.0";
  defaults = {
    stateDir = "/var/lib/hv";
    mode = "monitor";
    rules = [ "${pkg}/lib/node_modules/hv/rules/hv" ];
    playbooks = [ "${pkg}/lib/node_modules/hv/rules/playbooks" ];
    dedupWindow = null;
    sinks = [ ];
    exceptions = [ ];
    collectors = {
      conntrack.enable = true;
      netflow = {
        enable = false;
        address = "127.0.0.1";
        port = 2055;
      };
    };
    feedSync.timers = true;
    feedAllowlist = [ ];
    firewall.enable = true;
    allowlists = {
      vms = [ ];
      networks = [ ];
      users = [ ];
      processes = [ ];
      managementInterfaces = [ ];
    };
    api = {
      enable = false;
      address = "127.0.0.1";
      port = 8787;
      console = {
        enable = true;
        sessionIdle = "30m";
        sessionMax = "12h";
        secureCookie = false;
      };
    };
    metrics = {
      enable = false;
      address = "127.0.0.1";
      port = 9464;
    };
    fleet = {
      enable = false;
      servers = [ "nats://127.0.0.1:4222" ];
      streamReplicas = 1;
      credentialsFile = null;
    };
    backup = {
      enable = false;
      repository = "/var/lib/hv/backup/repository";
      passwordFile = null;
      vms = [ ];
      keep = {
        daily = 7;
        weekly = 4;
        monthly = 6;
      };
    };
    extraConfig = { };
  };
in
{
  inherit defaults;
  full = defaults // {
    mode = "playbooks";
    rules = defaults.rules ++ [ "/etc/hv/sigma" ];
    dedupWindow = "15m";
    sinks = [
      {
        type = "jsonl";
        path = "/var/log/hv/alerts.jsonl";
      }
      {
        type = "alertmanager";
        url = "http://127.0.0.1:9093";
      }
    ];
    exceptions = [
      {
        rule = "Kernel Module Loaded*";
        match.Image = "/run/current-system/sw/bin/modprobe";
        comment = "NixOS loads modules at boot";
      }
    ];
    collectors = defaults.collectors // {
      netflow = {
        enable = true;
        address = "0.0.0.0";
        port = 2055;
      };
    };
    feedSync.timers = false;
    feedAllowlist = [ "10.10.0.0/16" ];
    allowlists = {
      vms = [ "dc1" ];
      networks = [ "10.0.0.0/8" ];
      users = [ "admin" ];
      processes = [ "/run/current-system/sw/bin/borg" ];
      managementInterfaces = [ "eno1" ];
    };
    api = defaults.api // {
      enable = true;
      console = defaults.api.console // {
        sessionIdle = "15m";
        secureCookie = true;
      };
    };
    metrics = defaults.metrics // {
      enable = true;
      address = "0.0.0.0";
    };
    fleet = {
      enable = true;
      servers = [ "nats://10.0.0.5:4222" "nats://10.0.0.6:4222" "nats://10.0.0.7:4222" ];
      streamReplicas = 3;
      credentialsFile = "/run/keys/hv-nats.creds";
    };
    backup = {
      enable = true;
      repository = "sftp:backup@10.0.0.9:/srv/hv";
      passwordFile = "/run/keys/hv-backup.pass";
      vms = [ "web1" "db1" ];
      keep = {
        daily = 14;
        monthly = 12;
      };
    };
    extraConfig = {
      flowDetectors.portScan = {
        ports = 20;
        window = "5m";
      };
      response.maxQuarantinesPerHour = 2;
      anomaly.syscalls = "/var/lib/hv/models/host.onnx";
    };
  };
}
