import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterEach } from "vitest";

// The shop schema and its migration, shared with the fault campaign (scripts/faults-kinds.mjs).
const SHOP_SQL = new URL("../fixtures/mariadb/shop.sql", import.meta.url);
const MIGRATION_SQL = new URL("../fixtures/mariadb/migration.sql", import.meta.url);

/** The MariaDB the tests use: the suite's own (test/setup/mariadb-server.ts). */
export const MARIADB = {
  host: "127.0.0.1",
  port: Number(process.env.ROLLPOINT_TEST_MARIADB_PORT ?? 3306),
  user: "root",
};

/** An account of the test's own, that needs its password (see {@link createAccount}). */
export interface MariadbAccount {
  user: string;
  password: string;
}

// Where an account may connect from: a TCP connection from 127.0.0.1 can be matched as localhost.
const HOSTS = ["%", "localhost", "127.0.0.1"];

const connection = (as?: MariadbAccount) => [
  "--no-defaults",
  "-h",
  MARIADB.host,
  "-P",
  String(MARIADB.port),
  "--protocol=tcp",
  "-u",
  as?.user ?? MARIADB.user,
];

const created: string[] = [];
const accounts: string[] = [];
afterEach(() => {
  for (const db of created.splice(0)) mariadb(`DROP DATABASE IF EXISTS \`${db}\``);
  for (const user of accounts.splice(0)) {
    for (const host of HOSTS) mariadb(`DROP USER IF EXISTS '${user}'@'${host}'`);
  }
});

/** Run SQL with the mariadb client, as root or as `as` (its password in MYSQL_PWD); the rows. */
export function mariadb(sql: string, database?: string, as?: MariadbAccount): string {
  return execFileSync(
    "mariadb",
    [...connection(as), "-N", "-B", "-e", sql, ...(database ? [database] : [])],
    // stderr is kept for the error, not printed: a test may expect a refusal.
    { stdio: "pipe", ...(as ? { env: { ...process.env, MYSQL_PWD: as.password } } : {}) },
  ).toString();
}

/** An interactive session on `database`, as root, reading statements from its stdin (kept open). */
export function mariadbSession(database: string): ChildProcessWithoutNullStreams {
  return spawn("mariadb", [...connection(), database], { stdio: "pipe" });
}

/** A new account with a random password and no privileges, dropped after the test. */
export function createAccount(): MariadbAccount {
  const account = {
    user: `rp_pw_${randomBytes(4).toString("hex")}`,
    password: `pw-${randomBytes(9).toString("hex")}`,
  };
  accounts.push(account.user);
  for (const host of HOSTS) {
    mariadb(`CREATE USER '${account.user}'@'${host}' IDENTIFIED BY '${account.password}'`);
  }
  return account;
}

/** Give an account privileges on one database: by default all (an application's account). */
export function grant(account: MariadbAccount, database: string, privileges = "ALL"): void {
  for (const host of HOSTS) {
    mariadb(`GRANT ${privileges} ON \`${database}\`.* TO '${account.user}'@'${host}'`);
  }
}

/**
 * A database of its own for one test: tables with a foreign key, a view, a procedure, a trigger,
 * an event, rows; made by root, or by `owner` (then the definer of the view, procedure, trigger
 * and event), who gets every privilege on it.
 */
export function createShopDatabase(owner?: MariadbAccount): string {
  const name = `rp_test_${randomBytes(5).toString("hex")}`;
  mariadb(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  created.push(name);
  if (owner) grant(owner, name);
  mariadb(readFileSync(SHOP_SQL, "utf8"), name, owner);
  return name;
}

/** The update's damage: schema and data changed every way a migration changes them. */
export function mutateShopDatabase(name: string): void {
  mariadb(readFileSync(MIGRATION_SQL, "utf8"), name);
}

/** The whole database as mariadb-dump prints it: the oracle for "exactly as before". */
export function dumpOf(name: string): string {
  return execFileSync("mariadb-dump", [
    ...connection(),
    "--single-transaction",
    "--routines",
    "--triggers",
    "--events",
    "--skip-dump-date",
    "--skip-comments",
    name,
  ]).toString();
}
