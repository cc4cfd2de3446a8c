# The audit rules hv's detections need, read from rules/audit/hv.rules (the one source of truth)
# and turned into the list `security.audit.rules` wants.
#
# Only builtins, no nixpkgs `lib`: `nix-instantiate --eval` evaluates this file without nixpkgs,
# so test/nix/audit-rules.test.ts runs the real thing, not a copy of it.
#
#   nix-instantiate --eval --strict --json -A nixos nix/audit-rules.nix
{
  rulesFile ? ../rules/audit/hv.rules,
}:
let
  inherit (builtins)
    elem
    filter
    foldl'
    head
    isString
    map
    match
    readFile
    replaceStrings
    split
    ;

  trim =
    s:
    let
      m = match "[[:space:]]*(.*[^[:space:]])[[:space:]]*" s;
    in
    if m == null then "" else head m;

  # Every rule of the file, in order: comments ("#…") and blank lines dropped.
  fromFile = filter (l: l != "" && match "#.*" l == null) (
    map trim (filter isString (split "\n" (readFile rulesFile)))
  );

  keyOf =
    rule:
    let
      m = match ".* -k ([^ ]+).*" rule;
    in
    if m == null then null else head m;

  watchOf =
    rule:
    let
      m = match "-w ([^ ]+) .*" rule;
    in
    if m == null then null else head m;

  # nixpkgs builds libvirt with --sysconfdir=/var/lib: qemu.conf, the persistent domain XML and
  # the secrets of a NixOS host are under /var/lib/libvirt, never /etc/libvirt.
  relocate = replaceStrings [ " /etc/libvirt" ] [ " /var/lib/libvirt" ];

  # Why a rule of hv.rules is left out on NixOS. Anything not listed here is kept.
  dropReason =
    rule:
    let
      w = watchOf rule;
    in
    if w != null && match "/usr/.*" w != null then
      # Programs and firmware live in the read-only Nix store; /usr/bin, /usr/sbin, /usr/share and
      # /usr/lib hold nothing to watch (and /usr/sbin does not exist, so auditctl would fail).
      "FHS path: NixOS programs and firmware are in the read-only Nix store"
    else if keyOf rule == "hv_libvirt_conf" then
      # Relocated, this recursive watch would be /var/lib/libvirt itself and, coming before the
      # images and VM-state watches, would give every disk write its key instead of hv_vm_disk.
      "relocated to /var/lib/libvirt it would shadow the narrower image and VM-state watches"
    else
      null;

  # On NixOS the VM state directories are inside /var/lib/libvirt/qemu, next to the domain XML.
  # Without these first, qemu writing nvram or a saved image would carry hv_domain_xml (and raise
  # "domain XML written outside libvirt"). Their parent is created at boot by the module.
  nixosStateWatches = map (d: "-w /var/lib/libvirt/qemu/${d} -p rwa -k hv_vm_state") [
    "save"
    "snapshot"
    "checkpoint"
    "nvram"
    "dump"
    "ram"
    "channel"
  ];

  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];

  relocated = map relocate fromFile;
in
{
  inherit fromFile;

  # What the NixOS module loads, in the order that gives each event the right key.
  nixos = unique (nixosStateWatches ++ filter (r: dropReason r == null) relocated);

  # What is left out, with the reason (shown in docs/nixos.md, checked by the test).
  dropped = map (r: {
    rule = r;
    reason = dropReason r;
  }) (filter (r: dropReason r != null) relocated);

  # Directories that must exist before the rules load (a watch needs its parent; the
  # `-F path=` socket rules need /run/libvirt): the module creates them with systemd-tmpfiles.
  parentDirs = [
    "/run/libvirt"
    "/var/lib/libvirt"
    "/var/lib/libvirt/qemu"
    "/var/lib/libvirt/images"
    "/var/lib/hv"
  ];
}
