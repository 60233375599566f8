// The PostgreSQL part of `npm run bench`: a database of about 300 MB (pgbench -i -s 20); a
// rollback point plus a rollback with each strategy, against the original utility's path (plain
// pg_dump to SQL, then dropdb, createdb, psql -f), all measured in the same run.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

const PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"];
const sh = (cmd, args) =>
  execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"] }).toString();
const time = (fn) => {
  const t = performance.now();
  const out = fn();
  return { ms: performance.now() - t, out };
};
const psql = (db, sql) => sh("psql", [...PG, "-X", "-qAt", "-d", db, "-c", sql]).trim();
const fingerprint = (db) =>
  psql(db, "SELECT count(*) || ':' || sum(abalance) FROM pgbench_accounts") +
  psql(db, "SELECT ':' || count(*) FROM pgbench_history");

export function benchPostgres({ dir, op, runs, median }) {
  const db = `rp_bench_${randomBytes(4).toString("hex")}`;
  sh("createdb", [...PG, db]);
  try {
    sh("pgbench", [...PG, "-i", "-q", "-s", "20", db]);
    const size = Number(psql("postgres", `SELECT pg_database_size('${db}')`));
    const before = fingerprint(db);
    const rows = {
      original: [],
      dump: [],
      clone: [],
      cloneRollback: [],
      dumpRollback: [],
      cloneSwap: [],
      dumpSwap: [],
    };
    for (let run = 0; run < runs; run++) {
      // The original utility's path.
      const sql = join(dir, `${db}.sql`);
      const original = time(() => {
        sh("sh", ["-c", `pg_dump ${PG.join(" ")} ${db} > ${sql}`]);
        mutate(db);
        sh("dropdb", [...PG, db]);
        sh("createdb", [...PG, db]);
        sh("psql", [...PG, "-X", "-q", "-d", db, "-f", sql]);
      });
      rows.original.push(original.ms - mutateMs);
      check(db, before, "original");
      for (const strategy of ["dump", "clone"]) {
        const store = join(dir, `pgstore-${strategy}-${run}`);
        const point = op(`backup-pg-${strategy}`, store, db);
        mutate(db);
        const back = op("restore", store, point.detail.backupId);
        rows[strategy].push(point.wall + back.wall);
        rows[`${strategy}Rollback`].push(back.ms);
        rows[`${strategy}Swap`].push(back.detail.timings?.swapMs ?? Number.NaN);
        check(db, before, strategy);
      }
    }
    const base = median(rows.original);
    console.log(
      `\npostgresql: ${(size / 1e6).toFixed(0)} MB (pgbench -s 20), median of ${runs} runs`,
    );
    console.log(
      `  original path (pg_dump SQL, dropdb, createdb, psql -f)   ${base.toFixed(0).padStart(6)} ms   1.000×`,
    );
    for (const strategy of ["dump", "clone"]) {
      const total = median(rows[strategy]);
      console.log(
        `  rollpoint ${strategy.padEnd(5)} point + rollback                    ${total.toFixed(0).padStart(6)} ms   ${(total / base).toFixed(3)}×   (rollback alone, in-process: ${median(rows[`${strategy}Rollback`]).toFixed(0)} ms, of which the database was unavailable ${median(rows[`${strategy}Swap`]).toFixed(0)} ms)`,
      );
    }
  } finally {
    sh("dropdb", [...PG, "--if-exists", "--force", db]);
  }
}

let mutateMs = 0;
// What a bad update does: a migration that rewrites a table.
function mutate(db) {
  const { ms } = time(() =>
    psql(
      db,
      "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 10 = 0; DELETE FROM pgbench_branches",
    ),
  );
  mutateMs = ms;
}

function check(db, before, label) {
  const now = fingerprint(db);
  if (now !== before)
    throw new Error(`${label}: the database did not come back (${now} != ${before})`);
}
