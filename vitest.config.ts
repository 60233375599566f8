import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A PostgreSQL of the suite's own, on a free port, gone at the end (see the file).
    globalSetup: ["test/setup/postgres-server.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real processes and write real trees; two cores are what CI has.
    maxWorkers: 2,
  },
});
