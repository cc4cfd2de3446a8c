// Builds the web console into dist/web (npm run build runs it): esbuild bundles web/src/main.tsx
// (Preact, from node_modules) and its stylesheet into content-hashed files under dist/web/assets,
// and index.html is written to load exactly those. Nothing is fetched from the network: every byte
// the page loads comes from this build and is served by hv (src/api/console.ts).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "dist", "web");
const assets = join(out, "assets");
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: [join(here, "src", "main.tsx")],
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  metafile: true,
  outdir: assets,
  entryNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((f) => f.endsWith(".js"));
const style = outputs.find((f) => f.endsWith(".css"));
if (!script || !style) throw new Error(`web build: expected one .js and one .css, got ${outputs.join(", ")}`);

// The icon keeps browsers from asking for /favicon.ico (a 404 in the console otherwise).
const icon = readFileSync(join(here, "icon.svg"));
const iconName = `icon-${(await import("node:crypto")).createHash("sha256").update(icon).digest("hex").slice(0, 8)}.svg`;
copyFileSync(join(here, "icon.svg"), join(assets, iconName));

const html = readFileSync(join(here, "index.html"), "utf8")
  .replace("%SCRIPT%", `/assets/${script}`)
  .replace("%STYLE%", `/assets/${style}`)
  .replace("%ICON%", `/assets/${iconName}`);
writeFileSync(join(out, "index.html"), html);
const size = (f) => readFileSync(join(assets, f)).length;
console.log(`web console: dist/web (${script} ${size(script)} B, ${style} ${size(style)} B)`);
