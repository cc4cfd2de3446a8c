import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    // A timeout here only catches a hang; it is not a speed check. CI runs on a busy 2-core
    // machine (other work, or a CPU hog alongside), where a TCG guest's boot or a test that runs
    // the CLI a dozen times takes several times as long as on an idle one.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    // Integration tests share real daemons (auditd); run files one at a time.
    fileParallelism: false,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ["default", "json"],
    outputFile: { json: "dist/test-results.json" },
  },
});
