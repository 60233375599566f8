import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { rollpoint } from "../helpers/cli.js";
import { createAppDatabase, PG } from "../helpers/postgres.js";
import { realSystemd, SLEEPER } from "../helpers/systemd.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

/** Every file under `dir` with its bytes' hash: "byte-identical" made checkable. */
function bytesOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const path = join(dir, rel);
    if (statSync(path).isFile())
      out[rel] = createHash("sha256").update(readFileSync(path)).digest("hex");
  }
  return out;
}

function manifest(dir: string, body: string): string {
  const file = join(dir, "update.yaml");
  writeFileSync(file, `apiVersion: rollpoint/v1\nname: app\n${body}`);
  return file;
}

describe("rollpoint plan", () => {
  it("checks the host, prints steps and rollbacks, and leaves tree, store and catalog byte-identical", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const app = join(dir, "app");
    makeTree(app, {
      "etc/app.conf": "a=1\n",
      "data/big.bin": Buffer.alloc(4096, 1),
      "data/x.log": "log",
    });
    const systemd = await realSystemd();
    const web = systemd.install("web", SLEEPER);
    systemd.systemctl("enable", "--now", web);
    // A backup stamped as if taken later, so the fresh tree counts as settled (see sameStatIdentity).
    const library = new GlobalRollback({ backupDir: store, clock: () => Date.now() + 10_000 });
    await library.backupFile(`${app}/data`, "earlier", "app", { exclude: ["*.log"] });
    await library.close();
    writeFileSync(join(app, "etc/app.conf"), "a=2\n");
    const file = manifest(
      dir,
      `rollbackPoint:
  files: [${app}/etc, { path: ${app}/data, exclude: ["*.log"] }, ${app}/new.conf]
  services: [${web}]
steps:
  - id: stop
    service: { stop: [${web}] }
  - id: swap
    run: [mv, ${app}/a, ${app}/b]
    undo: [mv, ${app}/b, ${app}/a]
  - id: notify
    run: [curl, -fsS, http://127.0.0.1:9/hook]
    continueOnError: true
  - id: health
    check: { tcp: "127.0.0.1:80", within: 5s }
`,
    );
    const tree = treeState(app);
    const storeBytes = bytesOf(store);
    const text = await rollpoint(["--store", store, "plan", file]);
    expect(text.exitCode, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toContain(`✓ ${app}/data: 1 file, 4.1 kB`);
    // Not a plain pass: a path that does not exist looks the same as a typo.
    expect(text.stdout).toContain(`! ${app}/new.conf: does not exist: will be recorded as absent`);
    expect(text.stdout).toContain(`✓ ${web}.service: active, enabled`);
    expect(text.stdout).toContain("2. swap [run] mv");
    expect(text.stdout).toContain("notify: reported, not rolled back (continueOnError)");

    const json = await rollpoint(["--store", store, "--json", "plan", file]);
    expect(json.exitCode).toBe(0);
    const { plan, preflight } = JSON.parse(json.stdout);
    expect(preflight.ok).toBe(true);
    const actionsOf = (step: string) =>
      plan.rollback.slice(plan.onFailure[step]).map((a: { action: string }) => a.action);
    expect(actionsOf("health")).toEqual([
      "undo",
      "stop-services",
      "restore",
      "restore",
      "restore",
      "return-services",
    ]);
    expect(plan.rollback[plan.onFailure.health + 2].target).toBe(`${app}/new.conf`);
    expect(actionsOf("stop")).toEqual([
      "stop-services",
      "restore",
      "restore",
      "restore",
      "return-services",
    ]);
    expect(plan.onFailure.notify).toBeNull();
    expect(text.stdout).toMatch(/r1\. undo swap: /);
    expect(text.stdout).toContain("health: rollback from r1");
    expect(text.stdout).toContain("stop: rollback from r2");
    // data/ is unchanged since its backup; etc/ was never backed up: only its 4 bytes are new,
    // which the store holds in one block of its file system.
    expect(preflight.estimatedNewBytes).toBe(statfsSync(store).bsize);

    expect(treeState(app)).toEqual(tree);
    expect(bytesOf(store)).toEqual(storeBytes);
  });

  it("fails preflight with exit 4, naming what is wrong: a missing unit, an unreachable database", async () => {
    const dir = await tempDir();
    const systemd = await realSystemd();
    const web = systemd.install("web", SLEEPER);
    const ghost = systemd.name("ghost");
    const database = await createAppDatabase();
    const file = manifest(
      dir,
      `rollbackPoint:
  services: [${web}, ${ghost}]
  databases:
    - { name: main, type: postgresql, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${database} }
    - { name: other, type: postgresql, host: 127.0.0.1, port: 1, user: postgres, database: nope }
steps:
  - id: a
    run: ["true"]
`,
    );
    const result = await rollpoint(["--store", join(dir, "store"), "plan", file]);
    expect(result.exitCode).toBe(4);
    expect(result.stdout).toContain(
      `✗ services ${web}, ${ghost}: unit ${ghost}.service does not exist`,
    );
    expect(result.stdout).toMatch(
      new RegExp(`✓ postgresql main \\(${database}\\): PostgreSQL \\d+`),
    );
    expect(result.stdout).toContain(
      "✗ postgresql other (nope): postgresql://postgres@127.0.0.1:1/nope",
    );
    expect(result.stdout).toContain("preflight FAILED");
  });

  it("refuses an invalid manifest with exit 3", async () => {
    const dir = await tempDir();
    const file = manifest(dir, "steps:\n  - id: a\n    run: []\n");
    const result = await rollpoint(["--store", join(dir, "store"), "plan", file]);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toContain("steps[0].run: must be a non-empty array of strings");
  });
});
