import { randomBytes } from "node:crypto";
import { execa } from "execa";
import pg from "pg";
import { afterEach } from "vitest";

/**
 * The PostgreSQL the tests use: the suite's own throwaway server (test/setup/postgres-server.ts),
 * or with ROLLPOINT_TEST_PG=external the one at 127.0.0.1:5432.
 */
export const PG = {
  host: "127.0.0.1",
  port: Number(process.env.ROLLPOINT_TEST_PGPORT ?? 5432),
  user: "postgres",
};

const created: Array<{ kind: "database" | "role"; name: string }> = [];

/** Run SQL as the superuser, on `database` (the maintenance database by default). */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  params: unknown[] = [],
  database = "postgres",
): Promise<T[]> {
  const client = new pg.Client({ ...PG, database });
  // No server is a failure, never a skip: CI must not pass for want of a database.
  await client.connect().catch((error: Error) => {
    throw new Error(
      `PostgreSQL is not reachable at ${PG.host}:${PG.port} (${error.message}); the suite starts its own (test/setup/postgres-server.ts): see its log, or with ROLLPOINT_TEST_PG=external start the local one: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  });
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** A database of its own for one test, with a table, an index, a sequence, a view, a function and rows. */
export async function createAppDatabase(owner = "postgres"): Promise<string> {
  const name = uniqueName("rp_test");
  await sql(`CREATE DATABASE ${name} OWNER ${owner}`);
  created.push({ kind: "database", name });
  await sql(
    `SET ROLE ${owner};
     CREATE SEQUENCE invoice_numbers START 1000;
     CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
     CREATE TABLE invoices (id serial PRIMARY KEY, customer_id int REFERENCES customers(id),
       number int NOT NULL DEFAULT nextval('invoice_numbers'), total numeric(10,2) NOT NULL);
     CREATE INDEX invoices_by_customer ON invoices (customer_id);
     CREATE VIEW big_invoices AS SELECT * FROM invoices WHERE total > 100;
     CREATE FUNCTION invoice_total(c int) RETURNS numeric LANGUAGE sql AS
       'SELECT coalesce(sum(total), 0) FROM invoices WHERE customer_id = c';
     INSERT INTO customers (name, email) SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 200) g;
     INSERT INTO invoices (customer_id, total) SELECT 1 + g % 200, (g * 7 % 500)::numeric FROM generate_series(1, 2000) g;`,
    [],
    name,
  );
  return name;
}

/** What an update typically does to it. */
export async function mutateAppDatabase(name: string): Promise<void> {
  await sql(
    `DELETE FROM invoices WHERE id % 3 = 0;
     INSERT INTO customers (name) VALUES ('added by the update');
     ALTER TABLE customers ADD COLUMN phone text;
     DROP VIEW big_invoices;
     CREATE TABLE migrations (version int);
     SELECT nextval('invoice_numbers') FROM generate_series(1, 10);`,
    [],
    name,
  );
}

export async function createRole(options: string): Promise<string> {
  const name = uniqueName("rp_role");
  await sql(`CREATE ROLE ${name} ${options}`);
  created.push({ kind: "role", name });
  return name;
}

const connection = () => ["-h", PG.host, "-p", String(PG.port), "-U", PG.user];

/** Every table's and column's privileges, as `psql`'s `\dp` prints them. */
export async function privilegesOf(database: string): Promise<string> {
  return (await execa("psql", [...connection(), "-d", database, "-X", "-c", "\\dp"])).stdout;
}

/** The schema as pg_dump prints it, without lines that differ between two dumps of one state. */
export async function schemaOf(database: string): Promise<string> {
  const { stdout } = await execa("pg_dump", [
    "--schema-only",
    "--no-owner",
    ...connection(),
    database,
  ]);
  return stdout
    .split("\n")
    .filter((line) => !/^(\\restrict|\\unrestrict|-- Dumped|--$)/.test(line))
    .join("\n");
}

/** Row counts and a digest of every table's rows, and the sequence's position. */
export async function dataOf(database: string) {
  const [row] = await sql<{ customers: string; invoices: string; digest: string; seq: string }>(
    `SELECT (SELECT count(*) FROM customers) AS customers,
            (SELECT count(*) FROM invoices) AS invoices,
            md5((SELECT string_agg(i::text, ',' ORDER BY i.id) FROM invoices i)
                || (SELECT string_agg(c::text, ',' ORDER BY c.id) FROM customers c)) AS digest,
            (SELECT last_value FROM invoice_numbers) AS seq`,
    [],
    database,
  );
  return row;
}

export async function databaseExists(name: string): Promise<boolean> {
  return (await sql(`SELECT 1 FROM pg_database WHERE datname = $1`, [name])).length === 1;
}

/** The scratch databases a backup may leave (snapshot, restore target, old copy): dropped afterwards. */
export function dropScratchOf(backupId: string): {
  snapshot: string;
  incoming: string;
  outgoing: string;
} {
  const tag = backupId.slice(-16);
  const names = {
    snapshot: `rp_snap_${tag}`,
    incoming: `rp_new_${tag}`,
    outgoing: `rp_old_${tag}`,
  };
  for (const name of Object.values(names)) created.push({ kind: "database", name });
  return names;
}

afterEach(async () => {
  // Databases first: a role that owns one (given to it by the test) cannot be dropped before.
  const items = created.splice(0).reverse();
  for (const item of items)
    if (item.kind === "database") await sql(`DROP DATABASE IF EXISTS ${item.name} WITH (FORCE)`);
  for (const item of items) if (item.kind === "role") await sql(`DROP ROLE IF EXISTS ${item.name}`);
});
