import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { scratchNames } from "../../src/backups/databases/postgresql/postgres-backup.js";
import { rollpoint } from "../helpers/cli.js";
import { killHard, startPausedAt } from "../helpers/paused.js";
import { sql } from "../helpers/postgres.js";
import { scenario } from "./scenario.js";

// Every transition of the scenario's run (preflight, rollbackPoint, its 8 steps, rollingBack,
// rolledBack), a point inside the rollback point, and one inside the rollback's restores.
const KILL_POINTS = [
  ...Array.from({ length: 12 }, (_, i) => `transition#${i + 1}`),
  "backup:object#2",
  "restore:write#1",
];

/** The clone snapshot databases on the suite's server. */
const snapshots = async () =>
  (
    await sql<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'rp_snap_%'")
  ).map((r) => r.datname);

/**
 * The snapshot databases this store's database backups would make (scratchNames; a SQLite or
 * dump member makes none, so callers keep those that exist): other test
 * files make theirs on the same server meanwhile, so a count of new ones is not this run's.
 */
const ourSnapshots = (store: string) => {
  const db = new Database(join(store, "catalog.db"), { readonly: true });
  try {
    const ids = db.prepare("SELECT id FROM backups WHERE type = 'database'").pluck().all();
    return (ids as string[]).map((id) => scratchNames(id).snapshot);
  } finally {
    db.close();
  }
};

describe("a runner killed with SIGKILL at any transition is recovered exactly", () => {
  for (const point of KILL_POINTS) {
    it(`killed at ${point}`, async () => {
      const s = await scenario();
      const before = await s.state();
      const args = ["--store", s.store];
      await killHard(await startPausedAt(point, [...args, "run", s.manifest], s.env));

      const blocked = await rollpoint([...args, "run", s.manifest], { env: s.env });
      expect(blocked.exitCode).toBe(5);
      expect(blocked.stderr).toMatch(
        /run r-\S+ \(app\) did not finish; run `rollpoint recover` first/,
      );

      const recovered = await rollpoint([...args, "--json", "recover"], { env: s.env });
      expect(recovered.exitCode, recovered.stderr).toBe(0);
      const [run] = JSON.parse(recovered.stdout).recovered;
      expect(["rolledBack", "notStarted"]).toContain(run.outcome);
      expect(await s.state()).toEqual(before);

      const again = await rollpoint([...args, "recover"], { env: s.env });
      expect(again.exitCode).toBe(0);
      expect(again.stdout.trim()).toBe("no interrupted run");
      expect(await s.state()).toEqual(before);
    });
  }
});

describe("recover resumes inside the rollback, at the restore it was in", () => {
  it("killed between two restores: the undos are not run again, the restores done are not redone, and everything is as before", async () => {
    const s = await scenario();
    const before = await s.state();
    const args = ["--store", s.store];
    // The rollback restores db-cache (SQLite), then db-main (PostgreSQL), then the files: the
    // runner dies just as it enters db-main, with db-cache already restored.
    await killHard(
      await startPausedAt("state:rollingBack.restore.db-main", [...args, "run", s.manifest], s.env),
    );
    expect(readFileSync(join(s.dir, "undo.log"), "utf8")).toBe("edit\nundo link\nundo edit\n");

    const recovered = await rollpoint([...args, "--json", "recover"], { env: s.env });
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    const [run] = JSON.parse(recovered.stdout).recovered;
    expect(run).toMatchObject({
      outcome: "rolledBack",
      interruptedIn: "rollingBack.restore.db-main",
    });
    expect(await s.state()).toEqual(before);
    // Each undo ran once: recover began where the dead runner was, not at the undos.
    expect(readFileSync(join(s.dir, "undo.log"), "utf8")).toBe("edit\nundo link\nundo edit\n");
    const show = await rollpoint([...args, "--json", "show", run.runId]);
    const states = (JSON.parse(show.stdout).events as Array<{ state: string }>).map((e) => e.state);
    const resumed = states.filter((x) => x.endsWith("(recover)"));
    expect(resumed[0]).toBe("rollingBack.restore.db-main (recover)");
    expect(resumed).not.toContain("rollingBack.restore.db-cache (recover)");
    expect(resumed).toContain("rollingBack.restore.file-1 (recover)");
  });
});

describe("a runner killed while a clone snapshot is being taken", () => {
  it("recover drops the half-made snapshot database, and restores nothing that was not taken", async () => {
    const s = await scenario();
    s.edit(`database: ${s.pg} }`, `database: ${s.pg}, strategy: clone }`);
    const before = await s.state();
    // The rollback point's second backup is the PostgreSQL clone: parked once it exists, still
    // pending, and killed there.
    await killHard(
      await startPausedAt("backup:before-sync#2", ["--store", s.store, "run", s.manifest], s.env),
    );
    const live = new Set(await snapshots());
    const ours = ourSnapshots(s.store).filter((name) => live.has(name));
    expect(ours).toHaveLength(1);

    const recovered = await rollpoint(["--store", s.store, "--json", "recover"], { env: s.env });
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(JSON.parse(recovered.stdout).recovered[0].outcome).toBe("notStarted");
    expect(await snapshots()).not.toContain(ours[0]);
    expect(await s.state()).toEqual(before);
  });

  it("recover drops a clone's snapshot whose backup completed when the runner died at the next member", async () => {
    const s = await scenario();
    s.edit(`database: ${s.pg} }`, `database: ${s.pg}, strategy: clone }`);
    // The clone (the second member) is complete; the point is not: killed in the third member.
    await killHard(
      await startPausedAt("backup:before-sync#3", ["--store", s.store, "run", s.manifest], s.env),
    );
    const live = new Set(await snapshots());
    const ours = ourSnapshots(s.store).filter((name) => live.has(name));
    expect(ours).toHaveLength(1);
    const recovered = await rollpoint(["--store", s.store, "--json", "recover"], { env: s.env });
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(JSON.parse(recovered.stdout).recovered[0].outcome).toBe("notStarted");
    expect(await snapshots()).not.toContain(ours[0]);
  });
});
