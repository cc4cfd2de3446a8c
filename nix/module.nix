# NixOS module: `hypervisor.monitor` — the hv agent, its privileged helper, feed timers, the backup
# timer, the audit rules its detections need and the polkit rule for libvirt. Options: docs/nixos.md.
#
# Only parsed here (`nix-instantiate --parse`): there is no nixpkgs offline. nix/settings.nix and
# nix/audit-rules.nix, which it imports, are evaluated for real by test/nix/*.test.ts.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMapStrings
    concatStringsSep
    escapeShellArg
    escapeShellArgs
    filter
    listToAttrs
    literalExpression
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    nameValuePair
    optional
    optionalAttrs
    optionals
    types
    unique
    ;

  cfg = config.hypervisor.monitor;

  hv = "${cfg.package}/bin/hv";
  shippedDir = "${cfg.package}/lib/node_modules/hv";
  stateDir = "/var/lib/hv";
  configPath = "/etc/hv/hv.yaml";
  privilegedSocket = "/run/hv/privileged.sock";
  credentialsPath = "/run/credentials/hv-monitor.service/nats.creds";

  settings = import ./settings.nix { inherit cfg credentialsPath; };
  configFile = (pkgs.formats.yaml { }).generate "hv.yaml" settings;
  auditRules = import ./audit-rules.nix { };

  libvirtHere = config.virtualisation.libvirtd.enable;
  # audit.log readable by group hv needs auditd.conf's log_group: nixpkgs ≥ 25.05 has the option.
  auditdSettingsAvailable = options.security.auditd ? settings;

  isLoopback =
    a:
    lib.elem a [
      "127.0.0.1"
      "::1"
      "localhost"
    ];
  exposed = svc: svc.enable && cfg.openFirewall && !isLoopback svc.address;

  # Hardening shared by every hv unit; each adds what it needs on top.
  hardening = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    DevicePolicy = "closed";
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    # V8 compiles JavaScript to machine code at run time: W^X would kill node.
    MemoryDenyWriteExecute = false;
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" ];
    # A refused call fails with EPERM (node/libuv fall back) instead of killing the process.
    SystemCallErrorNumber = "EPERM";
    KeyringMode = "private";
    UMask = "0027";
  };

  serviceEnv = {
    HV_STATE_DIR = stateDir;
    HV_LIBVIRT_URI = cfg.collectors.libvirt.uri;
  };

  monitorCaps =
    [ "CAP_NET_ADMIN" ] # nft (hv's tables), conntrack -E (flow events)
    ++ optional cfg.collectors.pcap.enable "CAP_NET_RAW" # tcpdump for forensic captures
    ++ cfg.extraCapabilities;

  auditArgs =
    if cfg.collectors.audit.source == "log" then
      [
        "--audit-log"
        cfg.collectors.audit.logFile
      ]
    else if cfg.collectors.audit.source == "socket" then
      [
        "--audit-socket"
        cfg.collectors.audit.socket
      ]
    else
      [ ];

  libvirtArgs =
    if cfg.collectors.libvirt.enable then
      [
        "--libvirt-uri"
        cfg.collectors.libvirt.uri
      ]
    else
      [ "--no-libvirt" ];

  monitorCommand = escapeShellArgs (
    [
      hv
      "monitor"
      "--config"
      configPath
      "--state-dir"
      stateDir
      "--no-tui"
    ]
    ++ auditArgs
    ++ libvirtArgs
  );

  # --- feeds -----------------------------------------------------------------------------------

  feedType = types.submodule {
    options = {
      name = mkOption {
        type = types.strMatching "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}";
        description = "Feed name (letters, digits, `.`, `_`, `-`); also names its sync timer.";
      };
      url = mkOption {
        type = types.str;
        example = "https://feodotracker.abuse.ch/downloads/ipblocklist_recommended.txt";
        description = "An http(s) URL, or a local file or MISP feed directory.";
      };
      format = mkOption {
        type = types.enum [
          "auto"
          "plain"
          "spamhaus-drop"
          "spamhaus-json"
          "feodo-csv"
          "netset"
          "domains"
          "misp"
          "stix"
        ];
        default = "auto";
        description = "Feed format (docs/feeds.md); `auto` detects it from the content.";
      };
      action = mkOption {
        type = types.enum [
          "alert"
          "block"
        ];
        default = "alert";
        description = "`block`: its addresses also go into hv's nftables sets.";
      };
      mode = mkOption {
        type = types.enum [
          "monitor"
          "enforce"
        ];
        default = "monitor";
        description = "For `block`: `monitor` counts matches, `enforce` drops them.";
      };
      paths = mkOption {
        type = types.listOf (
          types.enum [
            "input"
            "forward"
            "output"
            "taps"
          ]
        );
        default = [
          "input"
          "forward"
          "taps"
        ];
        description = "For `block`: where it is matched (`taps`: bridged VM traffic).";
      };
      severity = mkOption {
        type = types.nullOr (
          types.enum [
            "low"
            "medium"
            "high"
            "critical"
          ]
        );
        default = null;
        description = "Severity of its alerts (hv's default when null).";
      };
      schedule = mkOption {
        type = types.nullOr (types.strMatching "[0-9]+[smhd]");
        default = "6h";
        description = "How often it is synced (`30m`, `6h`, `1d`); null: only by hand (`hv feeds sync NAME`).";
      };
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the feed is synced and matched.";
      };
    };
  };

  feedArgs =
    f:
    [
      f.name
      f.url
      "--format"
      f.format
      "--action"
      f.action
    ]
    ++ (
      if f.schedule == null then
        [ "--no-schedule" ]
      else
        [
          "--schedule"
          f.schedule
        ]
    )
    ++ optionals (f.action == "block") [
      "--mode"
      f.mode
      "--paths"
      (concatStringsSep "," f.paths)
    ]
    ++ optionals (f.severity != null) [
      "--severity"
      f.severity
    ]
    ++ optional (!f.enable) "--disabled";

  # Every declared feed is registered with its current settings at boot: `--replace` updates the
  # spec of one that exists and keeps its entries and sync state across rebuilds.
  feedsSetupScript = pkgs.writeShellScript "hv-feeds-setup" ''
    set -eu
    ${concatMapStrings (f: ''
      ${hv} feeds add --replace ${escapeShellArgs (feedArgs f)}
    '') cfg.feeds}
  '';

  timedFeeds = filter (f: f.enable && f.schedule != null) cfg.feeds;

  feedSyncService = description: names: {
    inherit description;
    after = [
      "network-online.target"
      "hv-feeds-setup.service"
    ];
    wants = [ "network-online.target" ];
    environment = serviceEnv;
    serviceConfig = hardening // {
      Type = "oneshot";
      User = "hv";
      Group = "hv";
      # Exit status 1 when a feed failed or was rejected: the unit shows it, the last good set stays.
      ExecStart = escapeShellArgs ([
        hv
        "feeds"
        "sync"
      ]
      ++ names);
      StateDirectory = "hv";
      StateDirectoryMode = "0750";
      CapabilityBoundingSet = "";
      # AF_NETLINK: the host's own addresses, which no feed may list.
      RestrictAddressFamilies = [
        "AF_UNIX"
        "AF_NETLINK"
        "AF_INET"
        "AF_INET6"
      ];
    };
  };

  listenOptions = what: defaultPort: {
    enable = mkEnableOption what;
    address = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address to listen on (loopback by default).";
    };
    port = mkOption {
      type = types.port;
      default = defaultPort;
      description = "TCP port.";
    };
  };

  strings =
    description:
    mkOption {
      type = types.listOf types.str;
      default = [ ];
      inherit description;
    };
in
{
  options.hypervisor.monitor = {
    enable = mkEnableOption "hv security monitoring";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The hv package.";
    };

    stateDir = mkOption {
      type = types.str;
      default = stateDir;
      readOnly = true;
      description = "Where hv keeps its store (systemd's StateDirectory=hv).";
    };

    mode = mkOption {
      type = types.enum [
        "monitor"
        "playbooks"
      ];
      default = "monitor";
      description = "`monitor`: playbooks only record what they would do (a global kill switch); `playbooks`: each playbook's own mode applies.";
    };

    collectors = {
      audit = {
        source = mkOption {
          type = types.enum [
            "log"
            "socket"
            "none"
          ];
          default = "log";
          description = ''
            `log`: follow auditd's log (the module enables auditd and gives group `hv` read access
            through auditd.conf's `log_group`); `socket`: read an af_unix socket that user `hv` can
            connect to (auditd's own plugin makes it root-only); `none`: no audit events.
          '';
        };
        logFile = mkOption {
          type = types.str;
          default = "/var/log/audit/audit.log";
          description = "auditd's log file.";
        };
        socket = mkOption {
          type = types.str;
          default = "/var/run/audispd_events";
          description = "The audit socket for `source = \"socket\"`.";
        };
      };
      libvirt = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Watch libvirt for VM events and the VM inventory (needs virtualisation.libvirtd).";
        };
        uri = mkOption {
          type = types.str;
          default = "qemu:///system";
          description = "libvirt connection URI.";
        };
      };
      conntrack.enable = mkOption {
        type = types.bool;
        default = true;
        description = "Flow events from conntrack (needs CAP_NET_ADMIN, which the service has).";
      };
      netflow = {
        enable = mkEnableOption "the NetFlow v5/v9/IPFIX listener";
        address = mkOption {
          type = types.str;
          default = "127.0.0.1";
          description = "UDP address the listener binds.";
        };
        port = mkOption {
          type = types.port;
          default = 2055;
          description = "UDP port.";
        };
      };
      pcap.enable = mkEnableOption "packet capture for forensics (tcpdump; adds CAP_NET_RAW and AF_PACKET)";
    };

    rules = mkOption {
      type = types.listOf types.str;
      default = [ "${shippedDir}/rules/hv" ];
      defaultText = literalExpression ''[ "''${cfg.package}/lib/node_modules/hv/rules/hv" ]'';
      example = literalExpression ''[ "''${config.hypervisor.monitor.package}/lib/node_modules/hv/rules/hv" "/etc/hv/sigma" ]'';
      description = "Sigma rule files and directories.";
    };

    playbooks = mkOption {
      type = types.listOf types.str;
      default = [ "${shippedDir}/rules/playbooks" ];
      defaultText = literalExpression ''[ "''${cfg.package}/lib/node_modules/hv/rules/playbooks" ]'';
      description = "Playbook files and directories (the shipped ones are all in monitor mode).";
    };

    dedupWindow = mkOption {
      type = types.nullOr (types.strMatching "[0-9]+ *[smhd]");
      default = null;
      example = "10m";
      description = "Same rule about the same entity within this window is one alert (hv's default when null).";
    };

    exceptions = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [ ];
      example = literalExpression ''[ { rule = "Kernel Module Loaded*"; match.User = "root"; comment = "boot"; } ]'';
      description = "Structured rule exceptions (`rule`, `match`, `comment`).";
    };

    feeds = mkOption {
      type = types.listOf feedType;
      default = [ ];
      description = "Threat feeds registered (or updated, entries kept) with `hv feeds add --replace` at boot.";
    };

    feedAllowlist = strings "Networks no feed may list (on top of loopback and the host's own addresses).";

    feedSync = {
      timers = mkOption {
        type = types.bool;
        default = true;
        description = "Sync each scheduled feed with its own systemd timer (`hv feeds sync NAME`) instead of the agent's built-in scheduler.";
      };
      onCalendar = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "hourly";
        description = "Also sync every enabled feed (including ones added by hand) on this calendar, with `hv feeds sync`.";
      };
      randomizedDelay = mkOption {
        type = types.str;
        default = "5m";
        description = "RandomizedDelaySec= of the feed timers.";
      };
    };

    firewall.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Keep hv's own nftables tables in line with the block feeds.";
    };

    sinks = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [ ];
      example = literalExpression ''[ { type = "jsonl"; path = "/var/log/hv/alerts.jsonl"; } { type = "alertmanager"; url = "http://127.0.0.1:9093"; } ]'';
      description = "Alert sinks, passed through to the YAML (src/outputs/README.md).";
    };

    allowlists = {
      vms = strings "VM names never acted against.";
      networks = strings "Networks (CIDR) never blocked or quarantined.";
      users = strings "Users never locked or killed.";
      processes = strings "Executables never killed.";
      managementInterfaces = strings "Host interfaces never touched (the way in to the host).";
    };

    api = listenOptions "hv's REST API" 8787 // {
      console = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Serve the web console at / on the API's listener (docs/console.md); it logs in with an API token.";
        };
        sessionIdle = mkOption {
          type = types.strMatching "[0-9]+[smhd]";
          default = "30m";
          description = "A console session unused this long ends.";
        };
        sessionMax = mkOption {
          type = types.strMatching "[0-9]+[smhd]";
          default = "12h";
          description = "A console session ends this long after login, whatever happens.";
        };
        secureCookie = mkOption {
          type = types.bool;
          default = false;
          description = "Mark the session cookie Secure. Set it when people reach the console through a TLS reverse proxy (hv itself speaks plain HTTP).";
        };
      };
    };
    metrics = listenOptions "the Prometheus /metrics endpoint" 9464;

    monitoring = {
      prometheusRules = mkOption {
        type = types.bool;
        default = false;
        description = "Add hv's alerting rules (monitoring/hv-rules.yml: agent down, drops, audit records lost, stale feeds …) to services.prometheus.ruleFiles. The rules expect the scrape job to be named hv.";
      };
      grafanaDashboard = mkOption {
        type = types.bool;
        default = false;
        description = "Provision hv's Grafana dashboard (monitoring/hv-grafana.json) through services.grafana.provision.";
      };
    };

    fleet = {
      enable = mkEnableOption "publishing alerts and action results to NATS JetStream";
      servers = mkOption {
        type = types.listOf types.str;
        default = [ "nats://127.0.0.1:4222" ];
        example = [ "nats://10.0.0.5:4222" "nats://10.0.0.6:4222" "nats://10.0.0.7:4222" ];
        description = "NATS server URLs (nats:// or tls://) of the fleet's JetStream cluster.";
      };
      streamReplicas = mkOption {
        type = types.ints.between 1 5;
        default = 1;
        description = "Replicas of the HV_FLEET stream when hv creates it (3 in a three-node cluster).";
      };
      credentialsFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        example = "/run/keys/hv-nats.creds";
        description = "NATS credentials file; given to the service with LoadCredential= (it may stay root-only).";
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the firewall for the API, metrics and NetFlow ports that listen beyond loopback.";
    };

    privilegedHelper.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Run hv-privileged (root, socket-activated) for the few actions that need root.";
    };

    auditRules = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Load the audit rules hv's detections need (rules/audit/hv.rules, adapted to NixOS) through security.audit.rules.";
      };
      extra = strings "More audit rules, loaded after hv's.";
    };

    polkit.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Let members of the `libvirtd` group manage VMs (org.libvirt.unix.manage) without sudo.";
    };

    backup = {
      enable = mkEnableOption "scheduled VM backups into a restic repository (`hv backup`, docs/backup.md)";
      repository = mkOption {
        type = types.str;
        default = "${stateDir}/backup/repository";
        example = "sftp:backup@10.0.0.9:/srv/hv";
        description = "The restic repository: a directory, sftp:, rest:, s3:, … (created by `hv backup init` before the first run).";
      };
      passwordFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/keys/hv-backup.pass";
        description = "File holding the repository password; null: ${stateDir}/backup/password, which `hv backup init` makes (keep a copy elsewhere).";
      };
      vms = strings "VMs to back up; empty: every defined VM.";
      keep = mkOption {
        type = types.attrsOf types.ints.positive;
        default = {
          daily = 7;
          weekly = 4;
          monthly = 6;
        };
        description = "restic's forget policy applied after each run (`last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`), per VM and host; unused data is pruned.";
      };
      onCalendar = mkOption {
        type = types.str;
        default = "daily";
        description = "When the backups run (systemd OnCalendar=).";
      };
      randomizedDelay = mkOption {
        type = types.str;
        default = "30m";
        description = "RandomizedDelaySec= of the backup timer.";
      };
    };

    extraCapabilities = strings "More capabilities for hv-monitor (ambient and bounding).";

    readWritePaths = strings "More paths hv-monitor may write (e.g. a forensics directory).";

    extraConfig = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      example = literalExpression ''{ flowDetectors.portScan = { ports = 20; window = "5m"; }; response.maxQuarantinesPerHour = 2; }'';
      description = "Merged into the generated /etc/hv/hv.yaml last (wins key by key).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = lib.length (unique (map (f: f.name) cfg.feeds)) == lib.length cfg.feeds;
          message = "hypervisor.monitor.feeds: two feeds have the same name";
        }
      ];

      warnings =
        optional (cfg.collectors.audit.source == "log" && !auditdSettingsAvailable)
          "hypervisor.monitor: this nixpkgs has no security.auditd.settings, so audit.log stays root-only and hv (user hv) reads no audit events; use nixpkgs >= 25.05"
        ++ optional (cfg.collectors.libvirt.enable && !libvirtHere)
          "hypervisor.monitor: collectors.libvirt is on but virtualisation.libvirtd is not enabled"
        ++ optional (cfg.mode == "playbooks" && !cfg.privilegedHelper.enable)
          "hypervisor.monitor: playbooks that kill other users' processes or lock accounts need privilegedHelper";

      users.users.hv = {
        isSystemUser = true;
        group = "hv";
        extraGroups = optional libvirtHere "libvirtd";
        description = "hv security monitoring";
        home = stateDir;
      };
      users.groups.hv = { };

      environment.systemPackages = [ cfg.package ];
      environment.etc."hv/hv.yaml".source = configFile;

      systemd.services.hv-monitor = {
        description = "hv security monitoring";
        documentation = [ "file://${shippedDir}/README.md" ];
        wantedBy = [ "multi-user.target" ];
        wants = optional (cfg.feeds != [ ]) "hv-feeds-setup.service";
        after = [
          "network.target"
          "auditd.service"
          "libvirtd.service"
          "nftables.service"
          "hv-feeds-setup.service"
        ];
        restartTriggers = [ configFile ];
        environment = serviceEnv // {
          # The interface hv will use for root-only actions (see hv-privileged below).
          HV_PRIVILEGED_SOCKET = privilegedSocket;
        };
        serviceConfig = hardening // {
          ExecStart = monitorCommand;
          User = "hv";
          Group = "hv";
          SupplementaryGroups = optional libvirtHere "libvirtd";
          AmbientCapabilities = monitorCaps;
          CapabilityBoundingSet = monitorCaps;
          StateDirectory = "hv";
          StateDirectoryMode = "0750";
          LogsDirectory = "hv";
          LogsDirectoryMode = "0750";
          ReadWritePaths = cfg.readWritePaths;
          # AF_NETLINK: nft and conntrack; AF_UNIX: libvirt, audit socket, the helper.
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_NETLINK"
            "AF_INET"
            "AF_INET6"
          ]
          ++ optional cfg.collectors.pcap.enable "AF_PACKET";
          LoadCredential = optional (
            cfg.fleet.enable && cfg.fleet.credentialsFile != null
          ) "nats.creds:${cfg.fleet.credentialsFile}";
          Restart = "on-failure";
          RestartSec = "5s";
          # What is pending is stored before hv exits (README: crash-safe batches).
          TimeoutStopSec = "30s";
          LimitNOFILE = 65536;
        };
      };

      # Watches need their parent directory when the rules load at boot, before libvirtd and hv
      # have created them ("-" leaves an existing directory's mode and owner alone).
      systemd.tmpfiles.rules = map (d: "d ${d} - - - -") (
        filter (d: d != stateDir) auditRules.parentDirs
      )
      ++ [ "d ${stateDir} 0750 hv hv -" ];
    }

    (mkIf (cfg.collectors.audit.source == "log") (
      {
        security.auditd.enable = mkDefault true;
      }
      // optionalAttrs auditdSettingsAvailable {
        security.auditd.settings.log_group = "hv";
      }
    ))

    (mkIf cfg.auditRules.enable {
      security.audit.enable = mkDefault true;
      security.audit.rules = auditRules.nixos ++ cfg.auditRules.extra;
    })

    (mkIf cfg.collectors.conntrack.enable {
      boot.kernelModules = [ "nf_conntrack_netlink" ];
      # Byte and packet counts in flow events; the service cannot write /proc/sys itself.
      boot.kernel.sysctl."net.netfilter.nf_conntrack_acct" = mkDefault 1;
    })

    (mkIf cfg.polkit.enable {
      security.polkit.enable = mkDefault true;
      security.polkit.extraConfig = ''
        // hv: members of libvirtd manage qemu:///system without sudo (hypervisor.monitor.polkit).
        polkit.addRule(function (action, subject) {
          if ((action.id == "org.libvirt.unix.manage" || action.id == "org.libvirt.unix.monitor") &&
              subject.isInGroup("libvirtd")) {
            return polkit.Result.YES;
          }
        });
      '';
    })

    (mkIf cfg.monitoring.prometheusRules {
      services.prometheus.ruleFiles = [ "${shippedDir}/monitoring/hv-rules.yml" ];
    })

    (mkIf cfg.monitoring.grafanaDashboard {
      services.grafana.provision.dashboards.settings.providers = [
        {
          name = "hv";
          # Only *.json files are dashboards; the rules beside it are ignored.
          options.path = "${shippedDir}/monitoring";
        }
      ];
    })

    {
      networking.firewall.allowedTCPPorts =
        optional (exposed cfg.api) cfg.api.port ++ optional (exposed cfg.metrics) cfg.metrics.port;
      networking.firewall.allowedUDPPorts = optional (exposed cfg.collectors.netflow) cfg.collectors.netflow.port;
    }

    (mkIf cfg.privilegedHelper.enable {
      # Root-only actions, asked for over a socket only group hv can open. The command is the
      # interface hv will implement (docs/nixos.md, "Privileged helper"): one JSON request per line,
      # {"op":"kill","pid","signal","expectExe"} | {"op":"lock-account","user"} |
      # {"op":"unlock-account","user","expiry"}, one JSON answer per line.
      systemd.sockets.hv-privileged = {
        description = "hv privileged helper socket";
        wantedBy = [ "sockets.target" ];
        listenStreams = [ privilegedSocket ];
        socketConfig = {
          SocketUser = "root";
          SocketGroup = "hv";
          SocketMode = "0660";
          DirectoryMode = "0755";
          Accept = false;
        };
      };

      systemd.services.hv-privileged = {
        description = "hv privileged helper (kill, lock/unlock account)";
        requires = [ "hv-privileged.socket" ];
        after = [ "hv-privileged.socket" ];
        environment = serviceEnv;
        serviceConfig = hardening // {
          ExecStart = escapeShellArgs [
            hv
            "privileged-helper"
            "--socket"
            privilegedSocket
            "--state-dir"
            "/var/lib/hv-privileged"
          ];
          User = "root";
          # The accounts it locked (only those can be unlocked through it).
          StateDirectory = "hv-privileged";
          StateDirectoryMode = "0700";
          # CAP_KILL: other users' processes; CAP_SYS_PTRACE: read /proc/PID/exe to check the pid is
          # still the process named; CAP_CHOWN/FOWNER/DAC_OVERRIDE: usermod's shadow files;
          # CAP_AUDIT_WRITE: usermod's audit record.
          CapabilityBoundingSet = [
            "CAP_KILL"
            "CAP_SYS_PTRACE"
            "CAP_CHOWN"
            "CAP_FOWNER"
            "CAP_DAC_OVERRIDE"
            "CAP_AUDIT_WRITE"
          ];
          # usermod rewrites /etc/shadow and /etc/passwd (with users.mutableUsers = false, NixOS
          # activation undoes a lock at the next rebuild).
          ReadWritePaths = [ "/etc" ];
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_NETLINK"
          ];
          IPAddressDeny = "any";
          PrivateNetwork = false; # the audit netlink socket exists only in the host's namespace
        };
      };
    })

    (mkIf (cfg.feeds != [ ]) {
      systemd.services.hv-feeds-setup = {
        description = "hv: register the feeds of hypervisor.monitor.feeds";
        wantedBy = [ "multi-user.target" ];
        before = [ "hv-monitor.service" ];
        environment = serviceEnv;
        serviceConfig = hardening // {
          Type = "oneshot";
          RemainAfterExit = true;
          User = "hv";
          Group = "hv";
          ExecStart = feedsSetupScript;
          StateDirectory = "hv";
          StateDirectoryMode = "0750";
          CapabilityBoundingSet = "";
          PrivateNetwork = true;
          RestrictAddressFamilies = [ "AF_UNIX" ];
        };
      };
    })

    (mkIf cfg.feedSync.timers {
      systemd.services = listToAttrs (
        map (
          f: nameValuePair "hv-feed-sync-${f.name}" (feedSyncService "hv: sync feed ${f.name}" [ f.name ])
        ) timedFeeds
      );
      systemd.timers = listToAttrs (
        map (
          f:
          nameValuePair "hv-feed-sync-${f.name}" {
            description = "hv: sync feed ${f.name} every ${f.schedule}";
            wantedBy = [ "timers.target" ];
            timerConfig = {
              OnBootSec = "2min";
              OnUnitActiveSec = f.schedule;
              RandomizedDelaySec = cfg.feedSync.randomizedDelay;
            };
          }
        ) timedFeeds
      );
    })

    (mkIf cfg.backup.enable {
      # Root: the backup takes an external snapshot of each disk (an overlay file next to it), copies
      # the frozen image with qemu-img and merges the overlay back (src/backup, docs/backup.md).
      systemd.services.hv-backup = {
        description = "hv: back up VMs into ${cfg.backup.repository}";
        after = [ "libvirtd.service" ];
        requires = optional libvirtHere "libvirtd.service";
        environment = serviceEnv;
        path = [
          pkgs.restic
          pkgs.qemu-utils
          pkgs.libvirt
        ];
        serviceConfig = {
          Type = "oneshot";
          User = "root";
          # Makes the repository (and the password file) the first time; a no-op after that.
          ExecStartPre = escapeShellArgs [ hv "backup" "init" "--config" configPath "--state-dir" stateDir ];
          ExecStart = [
            (escapeShellArgs [ hv "backup" "create" "--all" "--config" configPath "--state-dir" stateDir "--by" "schedule" ])
            (escapeShellArgs [ hv "backup" "forget" "--prune" "--config" configPath "--state-dir" stateDir ])
          ];
          StateDirectory = "hv";
          StateDirectoryMode = "0750";
          NoNewPrivileges = true;
          PrivateTmp = true;
          ProtectHome = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectClock = true;
          Nice = 10;
          IOSchedulingClass = "idle";
        };
      };
      systemd.timers.hv-backup = {
        description = "hv: back up VMs (${cfg.backup.onCalendar})";
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = cfg.backup.onCalendar;
          Persistent = true;
          RandomizedDelaySec = cfg.backup.randomizedDelay;
        };
      };
    })

    (mkIf (cfg.feedSync.onCalendar != null) {
      systemd.services.hv-feeds-sync = feedSyncService "hv: sync every enabled feed" [ ];
      systemd.timers.hv-feeds-sync = {
        description = "hv: sync every enabled feed (${cfg.feedSync.onCalendar})";
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = cfg.feedSync.onCalendar;
          Persistent = true;
          RandomizedDelaySec = cfg.feedSync.randomizedDelay;
        };
      };
    })
  ]);
}
