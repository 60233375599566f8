// The server database kinds of the fault campaign (scripts/faults.mjs): a database of the
// trial's own on the campaign's PostgreSQL (dump or clone strategy) or MariaDB, a migration that
// changes its schema and rows, and the oracle, which is the server's own dump tool: the dump
// after the trial must equal the dump before, byte for byte.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const pgArgs = (port) => ["-h", "127.0.0.1", "-p", port, "-U", "postgres"];
const psql = (port, sql, database = "postgres") =>
  execFileSync(
    "psql",
    [...pgArgs(port), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    },
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
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    },
  );

function postgresql(strategy) {
  return {
    server: "postgresql",
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
        member: `{ name: server, type: postgresql, host: 127.0.0.1, port: ${port}, user: postgres, database: ${name}, strategy: ${strategy} }`,
        dump: () =>
          execFileSync("pg_dump", [...pgArgs(port), "--no-owner", name], { encoding: "utf8" })
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
    mariadb(
      port,
      `CREATE TABLE customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(80) NOT NULL, KEY by_name (name));
       CREATE TABLE invoices (id INT PRIMARY KEY AUTO_INCREMENT, customer INT NOT NULL,
         amount DECIMAL(10,2), FOREIGN KEY (customer) REFERENCES customers (id));
       INSERT INTO customers (name) VALUES ('ada'), ('grace'), ('linus');
       INSERT INTO invoices (customer, amount) VALUES (1, 10.50), (1, 20), (2, 99.99), (3, 1);
       CREATE VIEW big AS SELECT * FROM invoices WHERE amount > 15;
       CREATE PROCEDURE count_invoices() SELECT COUNT(*) FROM invoices;
       CREATE TRIGGER no_negative BEFORE INSERT ON invoices FOR EACH ROW SET NEW.amount = ABS(NEW.amount);`,
      name,
    );
    writeFileSync(
      join(dir, "server.sql"),
      `DELETE FROM invoices WHERE id = 4; INSERT INTO customers (name) VALUES ('added');
ALTER TABLE customers ADD COLUMN phone VARCHAR(20); DROP VIEW big; DROP PROCEDURE count_invoices;
CREATE TABLE migrations (version INT); INSERT INTO migrations VALUES (2);\n`,
    );
    return {
      member: `{ name: server, type: mariadb, host: 127.0.0.1, port: ${port}, user: root, database: ${name} }`,
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
          { encoding: "utf8" },
        ),
      damage: () => mariadb(port, "INSERT INTO customers (name) VALUES ('damage')", name),
      leaks: () => [],
      drop: () => mariadb(port, `DROP DATABASE IF EXISTS \`${name}\``),
    };
  },
};

/**
 * The kinds a trial's host may have beside its tree and its SQLite database; `create(dir, ports)`
 * makes the trial's database on the servers at `ports` ({ postgresql, mariadb }).
 */
export const SERVER_KINDS = {
  "postgresql-dump": postgresql("dump"),
  "postgresql-clone": postgresql("clone"),
  mariadb: MARIADB,
};
