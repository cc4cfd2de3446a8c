// The layers of hv (README, "Development"), bottom to top:
//   events → store · collectors · detectors · feeds · vm · firewall · forensics · outputs
//          · privileged · backup · fleet → playbooks → agent → api · cli
// An import never runs up this list. `npm run lint` runs this check; test/layers.test.ts shows it
// reports a deliberate bad import.
const lower = "(store|collectors|detectors|feeds|vm|firewall|forensics|outputs|privileged|backup|fleet|playbooks)";

module.exports = {
  forbidden: [
    {
      name: "events-stand-alone",
      comment: "src/events holds the types that cross stages; it depends on nothing else of hv",
      severity: "error",
      from: { path: "^src/events/" },
      to: { path: "^src/", pathNot: "^src/events/" },
    },
    {
      name: "stages-below-agent",
      comment: "a stage of the flow never reaches up into the agent, the API or the CLI",
      severity: "error",
      from: { path: `^src/${lower}/` },
      to: { path: "^src/(agent|api|cli)/" },
    },
    {
      name: "agent-below-api-and-cli",
      comment: "the agent is put together below the API and the CLI, which only parse input and render",
      severity: "error",
      from: { path: "^src/agent/" },
      to: { path: "^src/(api|cli)/" },
    },
    {
      name: "api-beside-cli",
      comment: "the API and the CLI sit side by side on top; the API never uses the CLI",
      severity: "error",
      from: { path: "^src/api/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "src-not-tests",
      comment: "the product never imports tests, benchmarks or scripts",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench|scripts)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json"] },
  },
};
