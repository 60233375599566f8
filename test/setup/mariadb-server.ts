import { execFileSync, spawn } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, userIds } from "./ports.js";
import { whenGone } from "./watchdog.js";

/**
 * A throwaway MariaDB for one `npm test`, like the PostgreSQL beside it: mariadb-install-db into
 * a temporary directory, mariadbd on a free port of 127.0.0.1 (root, no password), shut down and
 * deleted at the end. `ROLLPOINT_TEST_MARIADB=external` uses the server at 127.0.0.1:3306.
 * Tests read the port from ROLLPOINT_TEST_MARIADB_PORT.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.ROLLPOINT_TEST_MARIADB === "external") {
    process.env.ROLLPOINT_TEST_MARIADB_PORT = "3306";
    return async () => {};
  }
  const dir = mkdtempSync(join(tmpdir(), "rollpoint-test-mariadb-"));
  const data = join(dir, "data");
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = userIds("mysql");
    chownSync(dir, uid, gid);
  }
  const user = asRoot ? ["--user=mysql"] : [];
  try {
    execFileSync(
      "mariadb-install-db",
      [
        "--no-defaults",
        `--datadir=${data}`,
        ...user,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
  } catch (error) {
    throw new Error(
      `the tests start a MariaDB of their own: mariadb-install-db failed or is missing (Debian package mariadb-server), or set ROLLPOINT_TEST_MARIADB=external: ${(error as Error).message}`,
    );
  }
  const port = await freePort();
  const server = spawn(
    "mariadbd",
    [
      "--no-defaults",
      `--datadir=${data}`,
      `--socket=${join(dir, "sock")}`,
      `--port=${port}`,
      "--bind-address=127.0.0.1",
      `--pid-file=${join(dir, "pid")}`,
      "--skip-log-bin",
      "--innodb-buffer-pool-size=64M",
      ...user,
    ],
    { stdio: "ignore", detached: true },
  );
  for (let i = 0; ; i++) {
    try {
      execFileSync(
        "mariadb-admin",
        ["--no-defaults", "-h", "127.0.0.1", "-P", String(port), "-u", "root", "ping"],
        {
          stdio: "ignore",
        },
      );
      break;
    } catch {
      if (i > 300) throw new Error("the test MariaDB did not start within 30 s");
      await sleep(100);
    }
  }
  // A killed test run must not leave its server running.
  const disarm = whenGone(`kill -TERM ${server.pid} 2>/dev/null; sleep 5; rm -rf '${dir}'`);
  process.env.ROLLPOINT_TEST_MARIADB_PORT = String(port);
  return async () => {
    disarm();
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  };
}
