// One benchmarked operation in its own process, so its peak RSS is its own.
// Prints {"ms": wall time inside the process, "maxRssMb": peak RSS}.
import { GlobalRollback } from "../dist/index.js";

const [op, store, arg] = process.argv.slice(2);
const started = performance.now();
const rollback = new GlobalRollback({ backupDir: store, command: `bench ${op}` });
let detail;
if (op === "backup") {
  const info = await rollback.backupFile(arg, "bench", "bench");
  detail = { backupId: info.backupId, stats: info.metadata.stats };
} else if (op === "backup-pg-dump" || op === "backup-pg-clone") {
  const strategy = op === "backup-pg-dump" ? "dump" : "clone";
  const info = await rollback.backupDatabase(
    {
      type: "postgresql",
      host: "127.0.0.1",
      port: 5432,
      user: "postgres",
      database: arg,
      strategy,
    },
    "bench",
    "bench",
  );
  detail = { backupId: info.backupId };
} else if (op === "backup-mariadb") {
  const info = await rollback.backupDatabase(
    { type: "mariadb", host: "127.0.0.1", port: 3306, user: "root", database: arg },
    "bench",
    "bench",
  );
  detail = { backupId: info.backupId };
} else if (op === "restore") {
  detail = await rollback.restoreBackupDetailed(arg);
} else {
  throw new Error(`unknown op ${op}`);
}
await rollback.close();
const ms = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, detail })}\n`,
);
