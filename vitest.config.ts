import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A PostgreSQL and a MariaDB of the suite's own, on free ports, gone at the end.
    globalSetup: ["test/setup/postgres-server.ts", "test/setup/mariadb-server.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real processes and write real trees; two cores are what CI has.
    maxWorkers: 2,
  },
});
