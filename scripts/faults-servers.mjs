// The database servers of the fault campaign: the test suite's own throwaway PostgreSQL and
// MariaDB (test/setup/*-server.ts, one piece of code for both), compiled once with the project's
// tsc into a temporary directory and started on free ports of 127.0.0.1. A campaign, like
// `npm test`, never creates databases in the cluster a user's server runs on.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SETUPS = {
  postgresql: "postgres-server",
  mariadb: "mariadb-server",
  engines: "container-engines",
  systemd: "systemd-container",
};
// One Docker Engine and one Podman, and one systemd (booted in a container, reached through a
// `systemctl` wrapper first on PATH), for all jobs: each trial names its own images, containers,
// volumes and units, and removes them by those names.
const SHARED = new Set(["engines", "systemd"]);
// The suite's helpers for what runs inside the systemd container (its dpkg and apt), compiled
// with the setups: the packages kind builds its .debs and asks dpkg as the suite's tests do.
const CONTAINER_HELPERS = ["debs", "in-container"];
/** The compiled helpers, by name, once `startServers` has started the systemd container. */
export const helpers = {};
const PORT_VARIABLES = {
  postgresql: "ROLLPOINT_TEST_PGPORT",
  mariadb: "ROLLPOINT_TEST_MARIADB_PORT",
};

/**
 * Start `sets` sets of the servers `names` ("postgresql", "mariadb", "engines") need: one for each job
 * of the campaign, so that a trial's leftovers on a server are its own. Returns the ports of
 * each set ({ postgresql, mariadb }) and the teardown of all.
 */
export async function startServers(names, sets = 1) {
  if (names.length === 0)
    return { ports: Array.from({ length: sets }, () => ({})), stop: async () => {} };
  const out = mkdtempSync(join(tmpdir(), "rollpoint-faults-setup-"));
  const sources = [
    ...names.map((name) => join(ROOT, "test/setup", `${SETUPS[name]}.ts`)),
    ...(names.includes("systemd")
      ? CONTAINER_HELPERS.map((h) => join(ROOT, "test/helpers", `${h}.ts`))
      : []),
  ];
  execFileSync(
    join(ROOT, "node_modules/.bin/tsc"),
    [
      "--outDir",
      out,
      "--rootDir",
      join(ROOT, "test"),
      "--target",
      "ES2022",
      "--module",
      "NodeNext",
      "--moduleResolution",
      "NodeNext",
      "--types",
      "node",
      "--skipLibCheck",
      ...sources,
    ],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] },
  );
  // The output is ESM outside the project's package scope.
  writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
  const teardowns = [];
  const stop = async () => {
    for (const teardown of teardowns.reverse()) await teardown();
    rmSync(out, { recursive: true, force: true });
  };
  const ports = [];
  try {
    for (let i = 0; i < sets; i++) {
      const set = {};
      for (const name of names) {
        if (SHARED.has(name) && i > 0) continue;
        const setup = await import(pathToFileURL(join(out, "setup", `${SETUPS[name]}.js`)).href);
        teardowns.push(await setup.default());
        // Each setup says where its server listens through the environment, as for the suite;
        // the engines' (DOCKER_HOST, CONTAINERS_CONF) is inherited by every command run after.
        if (PORT_VARIABLES[name]) set[name] = Number(process.env[PORT_VARIABLES[name]]);
      }
      ports.push(set);
    }
    if (names.includes("systemd"))
      for (const name of CONTAINER_HELPERS)
        helpers[name] = await import(pathToFileURL(join(out, "helpers", `${name}.js`)).href);
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, stop };
}
