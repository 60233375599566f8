import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A PostgreSQL and a MariaDB of the suite's own, on free ports, a real systemd in a container,
    // a Docker Engine and a Podman: all gone at the end.
    globalSetup: [
      "test/setup/postgres-server.ts",
      "test/setup/mariadb-server.ts",
      "test/setup/systemd-container.ts",
      "test/setup/container-engines.ts",
    ],
    // Hang guards, not speed limits: a test that waits on a real server or process can take
    // several times longer with both cores busy on a slow day (38 s seen for a 12 s test).
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Tests spawn real processes and write real trees; two cores are what CI has.
    maxWorkers: 2,
  },
});
