# hv as a Nix package: `nix build .#hv` (flake.nix) or `pkgs.callPackage ./nix/package.nix { }`.
#
# npmDepsHash pins the npm dependencies of package-lock.json. After any change to the lock file:
#   1. set `npmDepsHash = lib.fakeHash;`
#   2. `nix build .#hv` fails with "hash mismatch … got: sha256-…"
#   3. paste that `sha256-…` here.
# (or, without a build: `nix run nixpkgs#prefetch-npm-deps -- package-lock.json`.)
# The value below is a placeholder: nothing here has been built (there is no nixpkgs offline).
{
  lib,
  buildNpmPackage,
  nodejs_20,
  python3,
  pkg-config,
  makeWrapper,
  autoPatchelfHook,
  stdenv,
  nftables,
  conntrack-tools,
  libvirt,
  qemu-utils,
  audit,
  tcpdump,
  restic,
  iproute2,
  shadow,
  gnutar,
  gzip,
  coreutils,
  procps,
  getent,
}:
let
  # The programs hv runs: src/events/programs.ts lists each with its nixpkgs attribute and what
  # hv needs it for (docs/dependencies.md); test/events/programs.test.ts keeps this list equal to
  # the required ones there. coreutils: cat/sh inside `ip netns exec` for namespaced sysctls.
  runtimeDeps = [
    nftables
    conntrack-tools
    libvirt
    qemu-utils
    audit
    tcpdump
    restic
    iproute2
    shadow
    gnutar
    gzip
    coreutils
    procps
    getent
  ];

  # Only what the build reads: no tests, fixtures, benchmarks' data or docs.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../tsconfig.build.json
      ../bin
      ../src
      ../bench
      ../models
      ../rules
      ../templates
      ../web
      ../monitoring
    ];
  };
in
buildNpmPackage {
  pname = "hv";
  version = (lib.importJSON ../package.json).version;
  inherit src;

  nodejs = nodejs_20;

  npmDepsHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

  # better-sqlite3 compiles its native addon from source (node-gyp: python3, a C++ compiler).
  nativeBuildInputs = [
    python3
    pkg-config
    makeWrapper
    autoPatchelfHook
  ];
  # onnxruntime-node ships a prebuilt CPU addon that links libstdc++: autoPatchelf points it there.
  buildInputs = [ stdenv.cc.cc.lib ];

  # No install script may run from the npm cache: onnxruntime-node's would download CUDA parts
  # (the CPU build is already in the package), and the sandbox has no network anyway.
  npmRebuildFlags = [ "--ignore-scripts" ];
  # `npm pack` (which picks the installed files) would run the `prepare` script (tsc) again.
  npmPackFlags = [ "--ignore-scripts" ];
  env.ONNXRUNTIME_NODE_INSTALL = "skip";

  # …except better-sqlite3's native addon, built from source against nodejs_20's headers.
  preBuild = ''
    npm rebuild better-sqlite3 --build-from-source --offline
  '';

  # `npm run build` (tsc -p tsconfig.build.json → dist/, then web/build.mjs → dist/web, the console
  # bundled by esbuild from the npm cache: its Go binary comes in the @esbuild/* optional package,
  # so its skipped install script is not needed) is buildNpmPackage's default build step.

  postInstall = ''
    moduleDir=$out/lib/node_modules/hv

    # Keep onnxruntime-node's addon for this platform only (the others cannot be patched or run).
    ortBin=$moduleDir/node_modules/onnxruntime-node/bin
    if [ -d "$ortBin" ]; then
      find "$ortBin" -mindepth 2 -maxdepth 2 ! -name linux -exec rm -rf {} +
      find "$ortBin" -mindepth 3 -maxdepth 3 ! -name ${
        if stdenv.hostPlatform.isAarch64 then "arm64" else "x64"
      } -exec rm -rf {} +
    fi

    # The compiled tests and benchmarks are not part of the program.
    rm -rf $moduleDir/dist/test $moduleDir/dist/bench

    wrapProgram $out/bin/hv \
      --prefix PATH : ${lib.makeBinPath runtimeDeps}
  '';

  passthru = {
    inherit runtimeDeps;
  };

  meta = {
    description = "Security-monitoring agent and VM-management surface of Hyper-NixOS";
    homepage = "https://github.com/hyper-nixos/hv";
    license = lib.licenses.mit;
    mainProgram = "hv";
    platforms = lib.platforms.linux;
  };
}
