{
  description = "hv — security monitoring for Hyper-NixOS hypervisors";

  # security.auditd.settings (auditd.conf's log_group, so user hv can read audit.log) needs
  # nixpkgs >= 25.05; on older ones the module still evaluates and warns.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
      hv = pkgs.callPackage ./nix/package.nix { };

      # A whole NixOS system with the module on, evaluated (not booted): options, types,
      # assertions and the generated units and YAML.
      evalSystem = nixpkgs.lib.nixosSystem {
        inherit system;
        modules = [
          self.nixosModules.default
          {
            boot.loader.grub.enable = false;
            fileSystems."/" = {
              device = "none";
              fsType = "tmpfs";
            };
            system.stateVersion = "25.05";
            virtualisation.libvirtd.enable = true;
            hypervisor.monitor = {
              enable = true;
              package = hv;
              mode = "playbooks";
              feeds = [
                {
                  name = "feodo";
                  url = "https://feodotracker.abuse.ch/downloads/ipblocklist_recommended.txt";
                  schedule = "1h";
                }
                {
                  name = "drop";
                  url = "https://www.spamhaus.org/drop/drop_v4.json";
                  action = "block";
                  mode = "enforce";
                }
              ];
              sinks = [
                {
                  type = "jsonl";
                  path = "/var/log/hv/alerts.jsonl";
                }
              ];
              allowlists.managementInterfaces = [ "eno1" ];
              api.enable = true;
              metrics.enable = true;
            };
          }
        ];
      };
    in
    {
      packages.${system} = {
        default = hv;
        inherit hv;
      };

      nixosModules.hv = ./nix/module.nix;
      nixosModules.default = self.nixosModules.hv;

      formatter.${system} = pkgs.nixfmt-rfc-style;

      checks.${system} = {
        package = hv;

        # The module evaluates, and the YAML it generates loads in the agent it was built with.
        module-eval =
          let
            cfg = evalSystem.config;
            yaml = cfg.environment.etc."hv/hv.yaml".source;
          in
          pkgs.runCommand "hv-module-eval"
            {
              nativeBuildInputs = [ pkgs.nodejs_20 ];
              execStart = cfg.systemd.services.hv-monitor.serviceConfig.ExecStart;
              feedTimers = builtins.attrNames cfg.systemd.timers;
            }
            ''
              echo "ExecStart: $execStart"
              echo "timers: $feedTimers"
              node --input-type=module -e '
                const { loadAgentConfig } = await import("${hv}/lib/node_modules/hv/dist/src/agent/config.js");
                console.log(JSON.stringify(loadAgentConfig(process.argv[1])));
              ' ${yaml}
              cp ${yaml} $out
            '';

        # Boots a VM with the module on: the agent runs as user hv, the helper socket exists, the
        # audit rules are loaded. `nix build .#checks.x86_64-linux.vm -L` (needs KVM).
        vm = pkgs.testers.runNixOSTest {
          name = "hv-monitor";
          nodes.machine = {
            imports = [ self.nixosModules.default ];
            virtualisation.libvirtd.enable = true;
            hypervisor.monitor = {
              enable = true;
              package = hv;
            };
          };
          testScript = ''
            machine.wait_for_unit("hv-monitor.service")
            machine.succeed("systemctl is-active hv-monitor.service")
            machine.succeed("hv version")
            machine.succeed("systemctl show -p User --value hv-monitor.service | grep -qx hv")
            machine.succeed("test -S /run/hv/privileged.sock")
            machine.succeed("stat -c %G /run/hv/privileged.sock | grep -qx hv")
            machine.succeed("auditctl -l | grep -q 'key=hv_exec'")
            machine.wait_until_succeeds("test -s /var/lib/hv/hv.db")
          '';
        };
      };
    };
}
