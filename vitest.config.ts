import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A PostgreSQL and a MariaDB of the suite's own, on free ports, and a real systemd in a
    // container: all gone at the end.
    globalSetup: [
      "test/setup/postgres-server.ts",
      "test/setup/mariadb-server.ts",
      "test/setup/systemd-container.ts",
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real processes and write real trees; two cores are what CI has.
    maxWorkers: 2,
  },
});
