// The MariaDB part of `npm run bench`: a database of BENCH_MARIADB_ROWS rows (500,000, about
// 100 MB in InnoDB); a rollback point plus a rollback, against the plain path (mariadb-dump to a
// file, DROP and CREATE DATABASE, the file through the mariadb client), in the same run.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

const ROWS = Number(process.env.BENCH_MARIADB_ROWS ?? 500000);
const CONN = ["-h", "127.0.0.1", "-P", "3306", "--protocol=tcp", "-u", "root"];
const sh = (cmd, args) =>
  execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"] }).toString();
const q = (sql, db) => sh("mariadb", [...CONN, "-N", "-B", "-e", sql, ...(db ? [db] : [])]).trim();
const time = (fn) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};
const fingerprint = (db) =>
  q("SELECT CONCAT(COUNT(*), ':', SUM(abalance)) FROM accounts", db) +
  q("SELECT CONCAT(':', COUNT(*)) FROM branches", db);

export function benchMariadb({ dir, op, runs, median }) {
  const db = `rp_bench_${randomBytes(4).toString("hex")}`;
  q(`CREATE DATABASE ${db}`);
  try {
    q(
      `CREATE TABLE branches (bid INT PRIMARY KEY, bbalance INT, filler CHAR(88));
       INSERT INTO branches SELECT seq, 0, '' FROM seq_1_to_20;
       CREATE TABLE accounts (aid INT PRIMARY KEY, bid INT, abalance INT, filler CHAR(84), KEY (bid));
       INSERT INTO accounts SELECT seq, 1 + seq % 20, seq % 1000, REPEAT('x', 84) FROM seq_1_to_${ROWS};`,
      db,
    );
    const size = Number(
      q(
        `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}'`,
      ),
    );
    const before = fingerprint(db);
    const rows = { plain: [], rollpoint: [], rollback: [] };
    for (let run = 0; run < runs; run++) {
      const file = join(dir, `${db}.sql`);
      let mutateMs = 0;
      const plain = time(() => {
        sh("sh", ["-c", `mariadb-dump ${CONN.join(" ")} --single-transaction ${db} > ${file}`]);
        mutateMs = time(() => mutate(db));
        q(`DROP DATABASE ${db}; CREATE DATABASE ${db}`);
        sh("sh", ["-c", `mariadb ${CONN.join(" ")} ${db} < ${file}`]);
      });
      rows.plain.push(plain - mutateMs);
      check(db, before, "plain");
      const store = join(dir, `mariadb-store-${run}`);
      const point = op("backup-mariadb", store, db);
      mutate(db);
      const back = op("restore", store, point.detail.backupId);
      rows.rollpoint.push(point.wall + back.wall);
      rows.rollback.push(back.ms);
      check(db, before, "rollpoint");
    }
    const base = median(rows.plain);
    const total = median(rows.rollpoint);
    console.log(`\nmariadb: ${(size / 1e6).toFixed(0)} MB (${ROWS} rows), median of ${runs} runs`);
    console.log(
      `  plain path (mariadb-dump, DROP/CREATE DATABASE, mariadb < dump)   ${base.toFixed(0).padStart(6)} ms   1.000×`,
    );
    console.log(
      `  rollpoint point + rollback                                         ${total.toFixed(0).padStart(6)} ms   ${(total / base).toFixed(3)}×   (rollback alone, in-process: ${median(rows.rollback).toFixed(0)} ms)`,
    );
  } finally {
    q(`DROP DATABASE IF EXISTS ${db}`);
  }
}

// What a bad update does: a migration that rewrites a table and empties another.
function mutate(db) {
  q("UPDATE accounts SET abalance = abalance + 1 WHERE aid % 10 = 0; DELETE FROM branches", db);
}

function check(db, before, label) {
  const now = fingerprint(db);
  if (now !== before)
    throw new Error(`${label}: the database did not come back (${now} != ${before})`);
}
