// The member kinds a fault campaign's host (scripts/faults.mjs) has beside its tree and SQLite
// database: a database of the trial's own on the campaign's PostgreSQL (dump or clone strategy)
// or MariaDB, with a migration that changes its schema and rows; or a container of the
// campaign's Docker Engine or Podman with a named volume, which the update writes into and then
// recreates from another image with another label. The oracle is the server's or the engine's
// own tool: the dump (pg_dump, mariadb-dump), or `inspect` and the volume's files, after the
// trial must equal the first, byte for byte.

import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { helpers } from "./faults-servers.mjs";

// A dump's failure (a table changed under it while the host settles) is the caller's to judge:
// its message goes into the error thrown, not onto the campaign's own output.
const QUIET = { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] };
const pgArgs = (port) => ["-h", "127.0.0.1", "-p", port, "-U", "postgres"];
const psql = (port, sql, database = "postgres") =>
  execFileSync(
    "psql",
    [...pgArgs(port), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
    QUIET,
  );

const myArgs = (port) => [
  "--no-defaults",
  "-h",
  "127.0.0.1",
  "-P",
  port,
  "--protocol=tcp",
  "-u",
  "root",
];
const mariadb = (port, sql, database) =>
  execFileSync(
    "mariadb",
    [...myArgs(port), "-N", "-B", "-e", sql, ...(database ? [database] : [])],
    QUIET,
  );

const SQL_STEP = "  - id: migrate-server\n    sql: { database: server, file: server.sql }\n";

function postgresql(strategy) {
  return {
    server: "postgresql",
    keptAfterCommit: strategy !== "clone",
    create(dir, { postgresql: port }) {
      const name = `rp_fault_${randomBytes(5).toString("hex")}`;
      psql(port, `CREATE DATABASE ${name}`);
      psql(
        port,
        `CREATE SEQUENCE numbers START 1000;
         CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
         CREATE TABLE invoices (id serial PRIMARY KEY, customer int REFERENCES customers(id),
           number int NOT NULL DEFAULT nextval('numbers'), total numeric(10,2));
         CREATE INDEX by_customer ON invoices (customer);
         CREATE VIEW big AS SELECT * FROM invoices WHERE total > 100;
         INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 100) g;
         INSERT INTO invoices (customer, total) SELECT 1 + g % 100, g % 500 FROM generate_series(1, 1000) g;`,
        name,
      );
      writeFileSync(
        join(dir, "server.sql"),
        `DELETE FROM invoices WHERE id % 3 = 0; ALTER TABLE customers ADD COLUMN phone text;
DROP VIEW big; CREATE TABLE migrations (version int); INSERT INTO migrations VALUES (2);
SELECT nextval('numbers') FROM generate_series(1, 10);\n`,
      );
      return {
        step: SQL_STEP,
        database: `{ name: server, type: postgresql, host: 127.0.0.1, port: ${port}, user: postgres, database: ${name}, strategy: ${strategy} }`,
        dump: () =>
          execFileSync("pg_dump", [...pgArgs(port), "--no-owner", name], QUIET)
            .split("\n")
            // A dump's random \restrict key and its version banner differ between two dumps.
            .filter((line) => !/^(\\restrict|\\unrestrict|-- Dumped)/.test(line))
            .join("\n"),
        damage: () => psql(port, "INSERT INTO customers (name) VALUES ('damage')", name),
        // A restore's scratch databases (rp_new_, rp_old_) left after recover are a leak; the
        // clone snapshot (rp_snap_) is the backup itself while the store holds it.
        leaks: () =>
          psql(port, "SELECT datname FROM pg_database WHERE datname ~ '^rp_(new|old)_'")
            .split("\n")
            .filter(Boolean),
        drop: () => {
          const names = psql(
            port,
            "SELECT datname FROM pg_database WHERE datname ~ '^rp_(new|old|snap)_'",
          )
            .split("\n")
            .filter(Boolean);
          for (const db of [name, ...names])
            psql(port, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        },
      };
    },
  };
}

const MARIADB = {
  server: "mariadb",
  create(dir, { mariadb: port }) {
    const name = `rp_fault_${randomBytes(5).toString("hex")}`;
    mariadb(port, `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    // The suite's shop schema and migration (test/helpers/mariadb.ts reads the same files).
    mariadb(
      port,
      readFileSync(new URL("../test/fixtures/mariadb/shop.sql", import.meta.url), "utf8"),
      name,
    );
    copyFileSync(
      new URL("../test/fixtures/mariadb/migration.sql", import.meta.url),
      join(dir, "server.sql"),
    );
    return {
      step: SQL_STEP,
      database: `{ name: server, type: mariadb, host: 127.0.0.1, port: ${port}, user: root, database: ${name} }`,
      dump: () =>
        execFileSync(
          "mariadb-dump",
          [
            ...myArgs(port),
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--skip-dump-date",
            "--skip-comments",
            name,
          ],
          QUIET,
        ),
      damage: () => mariadb(port, "INSERT INTO customers (name) VALUES ('damage')", name),
      leaks: () => [],
      drop: () => mariadb(port, `DROP DATABASE IF EXISTS \`${name}\``),
    };
  },
};

// A root file system for the trial's images: busybox, a shell as PID 1 that ends on TERM (PID 1
// has no default action for it), nothing else. Made once; each trial imports it twice, and an
// import is an image of its own (its ID differs), so a trial removes exactly its own.
let rootfs;
function rootfsTar() {
  if (rootfs) return rootfs;
  const root = mkdtempSync(join(tmpdir(), "rp-faults-rootfs-"));
  try {
    mkdirSync(join(root, "bin"));
    cpSync("/usr/bin/busybox", join(root, "bin", "busybox"));
    for (const tool of ["sh", "cat", "echo", "sleep", "rm", "find"])
      symlinkSync("busybox", join(root, "bin", tool));
    for (const d of ["data", "tmp"]) mkdirSync(join(root, d));
    rootfs = execFileSync("tar", ["-C", root, "-c", "."], { maxBuffer: 64 * 2 ** 20 });
    return rootfs;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
const IDLE = JSON.stringify([
  "/bin/sh",
  "-c",
  "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done",
]);

function container(engine) {
  const run = (...args) =>
    execFileSync(engine, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] }).trim();
  return {
    server: "engines",
    tracedChildren: engine !== "podman",
    create(dir) {
      const name = `rpf${randomBytes(5).toString("hex")}`;
      // The label makes each image its own: the same rootfs imported within a second is one image
      // ID otherwise (Podman), shared by every trial of that second, and one trial's `rmi -f <id>`
      // at its end took another's images and rollpoint's keep tags with them.
      const image = (tag) =>
        execFileSync(
          engine,
          [
            "import",
            "--change",
            `CMD ${IDLE}`,
            "--change",
            `LABEL rpf.image=${name}-${tag}`,
            "-",
            `${name}:${tag}`,
          ],
          {
            input: rootfsTar(),
            encoding: "utf8",
            stdio: ["pipe", "pipe", "pipe"],
          },
        ).trim();
      const images = [image("one"), image("two")];
      run("volume", "create", name);
      const start = (tag, label) =>
        run(
          "run",
          "-d",
          "--name",
          name,
          "--network",
          "none",
          "--label",
          `app=${label}`,
          "-v",
          `${name}:/data`,
          `${name}:${tag}`,
        );
      start("one", "one");
      run(
        "exec",
        name,
        "sh",
        "-c",
        "echo one > /data/conf; echo keep > /data/f1; mkdir -p /data/sub; echo x > /data/sub/x",
      );
      // The update's own script: not a step's `run:` list of the engine's CLI, so that a fault
      // injected into it reaches the engine's client the way an update's would.
      writeFileSync(
        join(dir, "container.sh"),
        `set -e
${engine} exec ${name} sh -c 'echo two > /data/conf; rm /data/f1; echo new > /data/new'
${engine} rm -f ${name} >/dev/null
${engine} run -d --name ${name} --network none --label app=two -v ${name}:/data ${name}:two >/dev/null
`,
      );
      const mountpoint = run("volume", "inspect", "--format", "{{.Mountpoint}}", name);
      return {
        containers: `{ name: box, engine: ${engine}, containers: [${name}] }`,
        step: `  - id: recreate
    run: [sh, ${join(dir, "container.sh")}]
`,
        dump: () => {
          let inspect;
          try {
            inspect = run(
              "inspect",
              "--format",
              "{{.Image}} {{json .Config.Labels}} {{json .Config.Cmd}} {{.State.Status}}",
              name,
            );
          } catch {
            inspect = "no container";
          }
          // A state is not a service: a running container must answer (one whose monitor was
          // killed still reads "running" to inspect, and every exec fails).
          if (inspect.endsWith(" running")) {
            try {
              run("exec", name, "true");
              inspect += " answers";
            } catch {
              inspect += " does not answer";
            }
          }
          const files = execFileSync(
            "sh",
            [
              "-c",
              `cd '${mountpoint}' && find . -printf '%p %m %U %G %s\n' | sort && find . -type f -exec md5sum {} + | sort`,
            ],
            QUIET,
          );
          return `${inspect}\n${files}`;
        },
        damage: () => run("exec", name, "sh", "-c", "echo damaged > /data/conf"),
        leaks: () => [],
        drop: () => {
          try {
            run("rm", "-f", name);
          } catch {}
          try {
            run("volume", "rm", "-f", name);
          } catch {}
          // By ID: every reference goes with it, rollpoint's own keep tags included.
          for (const id of images) {
            try {
              run("rmi", "-f", id);
            } catch {}
          }
        },
      };
    },
  };
}

// A unit of the campaign's systemd: enabled and running before the update, which stops and
// disables it. The oracle is systemd's own answer (`systemctl show`).
const SYSTEMD = {
  server: "systemd",
  create() {
    const unit = `rpf${randomBytes(5).toString("hex")}.service`;
    const file = join(
      `/proc/${process.env.ROLLPOINT_TEST_SYSTEMD_PID}/root`,
      "etc/systemd/system",
      unit,
    );
    const systemctl = (...args) => execFileSync("systemctl", args, QUIET);
    writeFileSync(
      file,
      "[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n",
    );
    systemctl("daemon-reload");
    systemctl("enable", "--now", unit);
    return {
      services: unit,
      step: `  - id: stop-unit\n    service: { stop: [${unit}] }\n  - id: disable-unit\n    service: { disable: [${unit}] }\n`,
      dump: () => systemctl("show", "-p", "ActiveState,SubState,UnitFileState", "--", unit),
      damage: () => systemctl("stop", unit),
      leaks: () => [],
      drop: () => {
        for (const args of [
          ["stop", unit],
          ["disable", unit],
        ]) {
          try {
            systemctl(...args);
          } catch {}
        }
        rmSync(file, { force: true });
        systemctl("daemon-reload");
      },
    };
  },
};

// Debian packages of the suite's systemd container (its real dpkg and apt), from a `file:` apt
// repository of packages built for the trial: app 1.0 is installed with the admin's edit of its
// conffile beside old 1.0, and the update installs app 2.0, which pulls in lib and removes old
// (it conflicts). rollpoint calls dpkg where it runs, so the trial's whole host (its tree, its
// SQLite database, the store) is in the directory bound at the same path in the container, and
// every command of the trial runs there (`enter`). The oracle is dpkg's own answer (dpkg-query,
// dpkg --audit) and the package's files.
const PACKAGES = {
  server: "systemd",
  keptAfterCommit: true,
  // One dpkg: its trials run one at a time (another trial's apt would hold its lock).
  exclusive: true,
  base: () => process.env.ROLLPOINT_TEST_SYSTEMD_SHARED,
  create(dir) {
    const { buildDeb, writeIndex } = helpers.debs;
    const { aptUpdateOf, enter, must, dpkgState } = helpers["in-container"];
    const id = randomBytes(4).toString("hex");
    const [app, lib, old] = ["app", "lib", "old"].map((p) => `rpf${id}-${p}`);
    const conf = `/etc/${app}/app.conf`;
    const repo = join(dir, "repo");
    mkdirSync(repo);
    const debs = [
      buildDeb(repo, {
        name: app,
        version: "1.0",
        files: { [`/usr/share/${app}/version`]: "1.0\n", [conf]: "mode=one\n" },
        conffiles: [conf],
      }),
      buildDeb(repo, { name: old, version: "1.0", files: { [`/usr/share/${old}/data`]: "old\n" } }),
      buildDeb(repo, { name: lib, version: "1.0", files: { [`/usr/share/${lib}/lib`]: "lib\n" } }),
      buildDeb(repo, {
        name: app,
        version: "2.0",
        depends: [lib],
        conflicts: [old],
        files: { [`/usr/share/${app}/version`]: "2.0\n", [conf]: "mode=two\n" },
        conffiles: [conf],
      }),
    ];
    writeIndex(repo, debs);
    const root = `/proc/${process.env.ROLLPOINT_TEST_SYSTEMD_PID}/root`;
    const list = `/etc/apt/sources.list.d/${app}.list`;
    writeFileSync(join(root, list), `deb [trusted=yes] file:${repo} ./\n`);
    aptUpdateOf(list);
    must(["apt-get", "install", "-y", `${app}=1.0`, `${old}=1.0`]);
    writeFileSync(join(root, conf), "mode=one\nadmin=yes\n");
    const read = (path) => {
      try {
        return readFileSync(join(root, path), "utf8");
      } catch {
        return "absent";
      }
    };
    return {
      packages: app,
      step: `  - id: upgrade\n    apt: { install: ["${app}=2.0"] }\n`,
      enter: (argv, env) => [
        "nsenter",
        ...enter(
          argv,
          Object.entries({ ROLLPOINT_WATCH_DETACHED: "1", ...env }).map(([k, v]) => `${k}=${v}`),
        ),
      ],
      dump: () =>
        JSON.stringify([
          dpkgState([app, lib, old]),
          read(`/usr/share/${app}/version`),
          read(conf),
          must(["dpkg", "--audit"]),
        ]),
      damage: () => writeFileSync(join(root, `/usr/share/${app}/version`), "damaged\n"),
      leaks: () => [],
      drop: () => {
        // Never fails the trial: its packages' names are its own.
        spawnSync("nsenter", enter(["dpkg", "--purge", app, lib, old]), { stdio: "ignore" });
        rmSync(join(root, list), { force: true });
      },
    };
  },
};

/**
 * The kinds a trial's host may have beside its tree and its SQLite database; `create(dir, ports)`
 * makes the trial's database on the servers at `ports` ({ postgresql, mariadb }).
 */
export const MEMBER_KINDS = {
  "postgresql-dump": postgresql("dump"),
  "postgresql-clone": postgresql("clone"),
  mariadb: MARIADB,
  docker: container("docker"),
  podman: container("podman"),
  systemd: SYSTEMD,
  packages: PACKAGES,
};
