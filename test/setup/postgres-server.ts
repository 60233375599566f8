import { execFileSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, userIds } from "./ports.js";
import { whenGone } from "./watchdog.js";

/**
 * A throwaway PostgreSQL for one `npm test`: initdb in a temporary directory, started on a free
 * port of 127.0.0.1 from the installed server binaries, stopped and deleted at the end. A user's
 * `npm test` must never create databases in the cluster their server runs on.
 * `ROLLPOINT_TEST_PG=external` uses the server at 127.0.0.1:5432 instead (trust auth), for a
 * machine where the binaries cannot run. Tests read the port from ROLLPOINT_TEST_PGPORT.
 */
export default async function setup(): Promise<() => void> {
  if (process.env.ROLLPOINT_TEST_PG === "external") {
    process.env.ROLLPOINT_TEST_PGPORT = "5432";
    return () => {};
  }
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), "rollpoint-test-pg-"));
  const data = join(dir, "data");
  // initdb and postgres refuse to run as root: as root they run as the `postgres` user.
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? userIds("postgres") : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const run = (command: string, args: string[]) =>
    execFileSync(
      asRoot ? "runuser" : join(bin, command),
      asRoot ? ["-u", "postgres", "--", join(bin, command), ...args] : args,
      { stdio: ["ignore", "pipe", "pipe"], cwd: dir },
    );
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  // Members of rp_password_auth must give their password (tests of password handling); every
  // other role is trusted, as on the machine's own test cluster.
  const hba = join(data, "pg_hba.conf");
  writeFileSync(
    hba,
    `host all +rp_password_auth 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, "utf8")}`,
  );
  const port = await freePort();
  run("pg_ctl", [
    "-D",
    data,
    "-l",
    join(dir, "server.log"),
    "-w",
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
    "start",
  ]);
  // A killed test run must not leave its server running.
  const disarm = whenGone(
    `kill -QUIT $(head -1 '${join(data, "postmaster.pid")}') 2>/dev/null; sleep 2; rm -rf '${dir}'`,
  );
  process.env.ROLLPOINT_TEST_PGPORT = String(port);
  execFileSync(join(bin, "psql"), [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "postgres",
    "-c",
    "CREATE ROLE rp_password_auth NOLOGIN",
  ]);
  return () => {
    disarm();
    try {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions[0]) {
    throw new Error(
      "the tests start a PostgreSQL of their own, from the installed server: install it with `apt-get install postgresql` (Debian package postgresql), or set ROLLPOINT_TEST_PG=external to use the server at 127.0.0.1:5432",
    );
  }
  return join(root, versions[0], "bin");
}
