// npm run demo: a sandboxed app (no root, no systemd, no database server) protected by a
// rollback point, broken by a bad "update", and put back byte for byte.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GlobalRollback } from "../dist/index.js";

const sandbox = mkdtempSync(join(tmpdir(), "rollpoint-demo-"));
const app = join(sandbox, "app");
const store = join(sandbox, "store");
const say = (text) => console.log(`\n▶ ${text}`);

function fingerprint(root) {
  const lines = [];
  const visit = (rel) => {
    const path = rel ? join(root, rel) : root;
    const st = lstatSync(path);
    let what = st.isDirectory() ? "dir" : st.isSymbolicLink() ? `-> ${readlinkSync(path)}` : createHash("sha256").update(readFileSync(path)).digest("hex").slice(0, 16);
    lines.push(`${(st.mode & 0o7777).toString(8)} ${Math.floor(st.mtimeMs)} ${rel || "."} ${what}`);
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) visit(rel ? `${rel}/${name}` : name);
  };
  visit("");
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

say(`building a sandboxed app in ${app}`);
mkdirSync(join(app, "etc"), { recursive: true });
mkdirSync(join(app, "data/uploads"), { recursive: true });
mkdirSync(join(app, "bin"), { recursive: true });
writeFileSync(join(app, "etc/app.conf"), "port=8080\nworkers=4\n");
writeFileSync(join(app, "etc/secret.key"), "do-not-leak\n");
chmodSync(join(app, "etc/secret.key"), 0o600);
writeFileSync(join(app, "bin/app-1.0"), "#!/bin/sh\necho 'app 1.0'\n");
chmodSync(join(app, "bin/app-1.0"), 0o755);
symlinkSync("app-1.0", join(app, "bin/app"));
for (let i = 0; i < 50; i++) writeFileSync(join(app, `data/uploads/photo-${i}.jpg`), Buffer.alloc(2048, i));
const before = fingerprint(app);
console.log(`  fingerprint of the app: ${before.slice(0, 16)}`);

const rollback = new GlobalRollback({ backupDir: store });
say("taking a rollback point");
const point = await rollback.createRollbackPoint({
  moduleName: "demo-app",
  description: "before update to 2.0",
  files: [join(app, "etc"), join(app, "bin"), join(app, "data"), join(app, "etc/feature-2.conf")],
});
for (const m of point.members) console.log(`  ${m.backupId}  ${m.source}${m.metadata.absent ? "  (absent: will be removed on rollback)" : ""}`);

say("running a bad update: new binary, new config, a migration that deletes uploads");
writeFileSync(join(app, "bin/app-2.0"), "#!/bin/sh\necho 'app 2.0'\n");
rmSync(join(app, "bin/app"));
symlinkSync("app-2.0", join(app, "bin/app"));
writeFileSync(join(app, "etc/app.conf"), "port=9090\n");
writeFileSync(join(app, "etc/feature-2.conf"), "feature=on\n");
chmodSync(join(app, "etc/secret.key"), 0o644);
for (let i = 0; i < 25; i++) rmSync(join(app, `data/uploads/photo-${i}.jpg`));
console.log(`  fingerprint now: ${fingerprint(app).slice(0, 16)} (changed)`);
console.log("  health check: FAILED (the update broke the app)");

say("rolling back");
const result = await rollback.restoreRollbackPoint(point);
for (const o of result.operations) {
  const c = o.changes ?? { written: 0, removed: 0, metadata: 0 };
  console.log(`  ${o.outcome === "failed" ? "✗" : "✓"} ${o.source}: ${o.outcome} (${c.written} written, ${c.removed} removed, ${c.metadata} metadata)`);
}
const after = fingerprint(app);
console.log(`  fingerprint after rollback: ${after.slice(0, 16)}`);
await rollback.close();

say("the store, as the CLI sees it");
const cli = join(import.meta.dirname, "..", "dist", "cli", "main.js");
console.log(execFileSync(process.execPath, [cli, "--store", store, "backups", "list"]).toString().trimEnd());
console.log(execFileSync(process.execPath, [cli, "--store", store, "backups", "verify"]).toString().trimEnd());

rmSync(sandbox, { recursive: true, force: true });
if (after !== before || !result.ok) {
  console.error("\n✗ the app is NOT identical to before the update");
  process.exit(2);
}
console.log("\n✓ the app is byte-identical to before the update (contents, modes, links, mtimes)");
