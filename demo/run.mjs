// npm run demo: a sandboxed app (no root, no systemd, no database server), updated by
// workflows/demo.yaml through the real CLI. The first update's health check fails and rollpoint
// rolls everything back; the demo proves the app is byte-identical to before. The second
// update is healthy and commits.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";

const here = import.meta.dirname;
const cli = join(here, "..", "dist", "cli", "main.js");
const manifest = join(here, "..", "workflows", "demo.yaml");
const root = mkdtempSync(join(tmpdir(), "rollpoint-demo-"));
const app = join(root, "app");
const store = join(root, "store");
const say = (text) => console.log(`\n\x1b[1m▶ ${text}\x1b[0m`.replace(process.env.NO_COLOR ? /\x1b\[\d+m/g : /$^/, ""));

// Every path the rollback point covers, with its type, mode, mtime (to the microsecond, as
// restored), bytes or link target; the SQLite database by its rows and schema (a copy through
// SQLite's backup API is the same database, not the same bytes). The sandbox's own top directory
// is not part of the rollback point, so its mtime is left out.
function fingerprint() {
  const lines = [];
  const visit = (rel) => {
    const path = rel ? join(app, rel) : app;
    const st = lstatSync(path, { bigint: true });
    const what = st.isDirectory() ? "dir" : st.isSymbolicLink() ? `-> ${readlinkSync(path)}` : createHash("sha256").update(readFileSync(path)).digest("hex");
    const mtime = rel ? String(st.mtimeNs / 1000n) : "-";
    if (!/^notes\.db/.test(rel)) lines.push(`${(st.mode & 0o7777n).toString(8)} ${mtime} ${rel || "."} ${what}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) visit(rel ? `${rel}/${name}` : name);
  };
  visit("");
  const db = new Database(join(app, "notes.db"), { readonly: true });
  lines.push(JSON.stringify(db.prepare("SELECT * FROM notes ORDER BY id").all()));
  lines.push(JSON.stringify(db.prepare("PRAGMA table_info(notes)").all()));
  db.close();
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

function rollpoint(...args) {
  const result = spawnSync(process.execPath, [cli, "--store", store, ...args], { stdio: "inherit" });
  return result.status;
}

say(`building a sandboxed app in ${app}`);
for (const dir of ["etc", "bin", "data/uploads"]) mkdirSync(join(app, dir), { recursive: true });
mkdirSync(join(root, "release"));
writeFileSync(join(app, "etc/app.conf"), "port=8080\nworkers=4\n");
writeFileSync(join(app, "etc/secret.key"), "do-not-leak\n");
chmodSync(join(app, "etc/secret.key"), 0o600);
writeFileSync(join(app, "bin/app-1.0"), "#!/bin/sh\necho 'app 1.0'\n");
chmodSync(join(app, "bin/app-1.0"), 0o755);
symlinkSync("app-1.0", join(app, "bin/app"));
for (let i = 0; i < 50; i++) writeFileSync(join(app, `data/uploads/photo-${i}.jpg`), Buffer.alloc(2048, i));
writeFileSync(join(root, "release/app-2.0"), "#!/bin/sh\necho 'app 2.0'\n");
const db = new Database(join(app, "notes.db"));
db.pragma("journal_mode = WAL");
db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
for (let i = 1; i <= 20; i++) db.prepare("INSERT INTO notes (body) VALUES (?)").run(`note ${i}`);
db.close();
writeFileSync(join(app, "health"), "crashing\n"); // what version 2.0 will report: unhealthy
const before = fingerprint();
console.log(`fingerprint of the app (files, modes, links, mtimes, SQLite rows and schema): ${before.slice(0, 16)}`);

say("what the update would do (rollpoint plan)");
rollpoint("plan", "--var", `root=${root}`, manifest);

say("running the update; its health check will fail");
const failed = rollpoint("run", "--var", `root=${root}`, manifest);
const after = fingerprint();
console.log(`\nexit code ${failed} (1: a step failed and everything was rolled back)`);
console.log(`fingerprint after the rollback: ${after.slice(0, 16)} ${after === before ? "= identical to before ✓" : "≠ DIFFERENT ✗"}`);

say("running the update again, healthy this time");
writeFileSync(join(app, "health"), "ok\n");
const good = rollpoint("run", "--var", `root=${root}`, manifest);
console.log(`\nexit code ${good} (0: committed); app/bin/app -> ${readlinkSync(join(app, "bin/app"))}`);

say("history");
rollpoint("history");
say("the run's machine (rollpoint graph, Mermaid)");
console.log(execFileSync(process.execPath, [cli, "graph", "--var", `root=${root}`, manifest]).toString().trimEnd());

rmSync(root, { recursive: true, force: true });
if (failed !== 1 || after !== before || good !== 0) {
  console.error("\n✗ the demo did not go as it should");
  process.exit(2);
}
console.log("\n✓ a failed update was rolled back to a byte-identical app; a good one committed");
