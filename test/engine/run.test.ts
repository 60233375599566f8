import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { createRole, PG, sql } from "../helpers/postgres.js";
import { storeFiles } from "../helpers/store.js";
import { tempDir } from "../helpers/tree.js";
import { liveRun } from "./live-run.js";
import { scenario } from "./scenario.js";

describe("rollpoint run", () => {
  it("commits an update whose steps all succeed", async () => {
    const s = await scenario({ failAt: "none" });
    const result = await s.runJson();
    expect(result.exitCode, result.stderr).toBe(0);
    const { report } = result;
    expect(report.outcome).toBe("committed");
    expect(report.steps.map((x: { status: string }) => x.status)).toEqual(
      Array(8).fill("succeeded"),
    );
    expect(readFileSync(join(s.app, "etc/app.conf"), "utf8")).toBe("port=9090\n");
    expect(s.running()).toBe("port=9090\n");
    expect(s.units.state("worker")).toMatchObject({ active: "active", unitFile: "enabled" });
    const history = await rollpoint(["--store", s.store, "history"]);
    expect(history.stdout).toMatch(/r-\S+\tapp\t\S+\tcommitted/);
  });

  it("rolls back files, SQLite, PostgreSQL and services exactly when a step fails; undos last-first", async () => {
    const s = await scenario();
    const before = await s.state();
    expect(s.running()).toBe("port=8080\n");
    const result = await s.runJson();
    expect(result.exitCode, result.stderr).toBe(1);
    const { report } = result;
    expect(report.outcome).toBe("rolledBack");
    expect(report.steps.at(-1)).toMatchObject({ id: "health", status: "failed" });
    expect(readFileSync(join(s.dir, "undo.log"), "utf8")).toBe("edit\nundo link\nundo edit\n");
    expect(await s.state()).toEqual(before);
    // web ran the update's config (its start step); the rollback restarted it after the files
    // came back, so it runs the old config again, not just "active".
    expect(s.running()).toBe("port=8080\n");
    // The rollback point's scratch databases (none for dump) are gone, and show tells the story.
    const show = await rollpoint(["--store", s.store, "show", report.runId]);
    expect(show.stdout).toContain(`  rollback point: ${report.pointId}\n`);
    expect(show.stdout).toContain("rollingBack");
    expect(show.stdout).toContain("✗ health failed");
    expect(show.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
  });

  it("a step timeout kills the step's whole process tree and rolls back", async () => {
    const s = await scenario({
      extraSteps: (dir) => `  - id: hang
    shell: |
      sleep 300 &
      echo $! > ${dir}/hang.pid
      wait
    timeout: 3s
`,
    });
    const before = await s.state();
    const result = await s.runJson();
    expect(result.exitCode).toBe(1);
    const { report } = result;
    expect(report.steps.find((x: { id: string }) => x.id === "hang")).toMatchObject({
      status: "failed",
      error: "timed out after 3s; its processes were killed",
      code: "TIMEOUT",
    });
    // The background sleep the step started is gone too (or at most a zombie being reaped).
    const pid = Number(readFileSync(join(s.dir, "hang.pid"), "utf8"));
    expect(
      existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "),
    ).toBe(false);
    expect(await s.state()).toEqual(before);
  });

  it("SIGTERM during a step rolls back", async () => {
    const s = await scenario({
      extraSteps: () => `  - id: slow
    shell: |
      echo waiting-for-signal
      sleep 60
`,
    });
    const before = await s.state();
    const run = liveRun(s.store, s.manifest, s.env);
    await run.until("waiting-for-signal");
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(1);
    expect(run.output.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
    expect(await s.state()).toEqual(before);
  });

  it("continueOnError: a failed step is reported, not rolled back", async () => {
    const s = await scenario({
      failAt: "none",
      extraSteps: () => `  - id: notify
    run: ["false"]
    continueOnError: true
`,
    });
    const result = await s.runJson();
    expect(result.exitCode).toBe(0);
    const { report } = result;
    expect(report.outcome).toBe("committed");
    expect(report.steps.find((x: { id: string }) => x.id === "notify")).toMatchObject({
      status: "failedContinued",
    });
  });

  it("a second run on the same store is refused at once (exit 5), naming the first", async () => {
    // "At once" means: while the first run is still inside its step, which waits for a file
    // only this test creates, after the second run has returned. No clock involved.
    const s = await scenario({
      failAt: "none",
      extraSteps: (dir) => `  - id: gate
    shell: |
      echo waiting
      while [ ! -e ${dir}/go ]; do sleep 0.05; done
`,
    });
    const first = liveRun(s.store, s.manifest, s.env);
    await first.until("waiting");
    const second = await rollpoint(["--store", s.store, "run", s.manifest], { env: s.env });
    expect(second.exitCode).toBe(5);
    expect(second.stderr).toContain(`locked by pid ${first.child.pid}`);
    expect(second.stderr).toContain("rollpoint run, run r-");
    expect(first.child.exitCode).toBeNull();
    expect(first.output.stdout).not.toContain("gate (");
    writeFileSync(join(s.dir, "go"), "");
    expect(await first.exited).toBe(0);
  });
});

describe("rollpoint run, the whole-run timeout and --no-rollback", () => {
  it("the manifest's timeout rolls back a run that takes too long", async () => {
    // The timeout must fire inside the slow step, never while the rollback point is taken:
    // 15 s is many times what the steps before it take on a loaded machine.
    const s = await scenario({
      extraSteps: () => `  - id: slow
    shell: sleep 600
`,
    });
    s.edit("name: app\n", "name: app\ntimeout: 15s\n");
    const before = await s.state();
    const result = await s.runJson();
    expect(result.exitCode).toBe(1);
    const { report } = result;
    expect(report.error).toBe("the run's timeout (15s) passed");
    expect(report.steps.find((x: { id: string }) => x.id === "slow")).toMatchObject({
      status: "failed",
    });
    expect(await s.state()).toEqual(before);
  });

  it("--no-rollback stops at the failure, leaves the host as it is, says so, and exits 2", async () => {
    const s = await scenario();
    const result = await rollpoint(["--store", s.store, "run", "--no-rollback", s.manifest], {
      env: s.env,
    });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toContain("FAILED without rollback (--no-rollback)");
    expect(readFileSync(join(s.app, "etc/app.conf"), "utf8")).toBe("port=9090\n");
    const history = await rollpoint(["--store", s.store, "history"]);
    expect(history.stdout).toMatch(/\tfailed\t--no-rollback/);
  });
});

describe("rollpoint run with a PostgreSQL clone, and a second signal", () => {
  it("a committed run drops the clone's snapshot database", async () => {
    const s = await scenario({ failAt: "none" });
    s.edit(`database: ${s.pg} }`, `database: ${s.pg}, strategy: clone }`);
    const committed = await s.runJson();
    expect(committed.exitCode, committed.stderr).toBe(0);
    const { report } = committed;
    const members = JSON.parse(
      (await rollpoint(["--store", s.store, "--json", "backups", "list"])).stdout,
    ).backups;
    const clone = members.find((b: { source: string }) => b.source.endsWith(`/${s.pg}`));
    const snapshot = s.dropScratchOf(clone.backupId).snapshot;
    expect(report.outcome).toBe("committed");
    expect(await sql("SELECT 1 FROM pg_database WHERE datname = $1", [snapshot])).toEqual([]);
    // The backup can no longer restore the database, and verify says why: rollpoint released it
    // (exit 0, as after a rollback that used it: not damage, nothing for cron to alert on).
    const verify = await rollpoint(["--store", s.store, "backups", "verify", clone.backupId]);
    expect(verify.exitCode, verify.stdout).toBe(0);
    expect(verify.stdout).toContain(
      `its part outside the store was released when run ${report.runId} committed; this backup cannot restore the database`,
    );
  });

  it("after a rollback that used the clone's snapshot, verify says so and exits 0", async () => {
    const s = await scenario();
    s.edit(`database: ${s.pg} }`, `database: ${s.pg}, strategy: clone }`);
    const rolledBack = await s.runJson();
    expect(rolledBack.exitCode, rolledBack.stderr).toBe(1);
    expect(rolledBack.report.outcome).toBe("rolledBack");
    const verify = await rollpoint(["--store", s.store, "backups", "verify"]);
    expect(verify.exitCode, verify.stdout).toBe(0);
    expect(verify.stdout).toContain(
      `its part outside the store was used by the rollback of run ${rolledBack.report.runId}`,
    );
  });

  it("a second SIGTERM during the rollback does not stop it, and says so", async () => {
    const s = await scenario({
      // A step whose undo takes two seconds, then one that waits for the signal.
      extraSteps: (dir) => `  - id: slow
    run: ["true"]
    undo: [sh, -c, "sleep 2; echo 'undo slow' >> ${dir}/undo.log"]
  - id: wait
    shell: |
      echo waiting-in-wait
      sleep 60
`,
    });
    const before = await s.state();
    const run = liveRun(s.store, s.manifest, s.env);
    await run.until("waiting-in-wait");
    run.child.kill("SIGTERM");
    await run.until("rollingBack");
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(1);
    expect(run.output.stderr).toContain(
      "SIGTERM: a rollback is under way and will not be interrupted",
    );
    expect(readFileSync(join(s.dir, "undo.log"), "utf8")).toContain("undo slow");
    expect(await s.state()).toEqual(before);
  });
});

describe("rollpoint run that cannot start", () => {
  it("a failed preflight exits 4, runs no step and changes nothing", async () => {
    const s = await scenario({ failAt: "none" });
    const [web, worker, ghost] = ["web", "worker", "ghost"].map(s.units.name);
    s.edit(`services: [${web}, ${worker}]`, `services: [${web}, ${worker}, ${ghost}]`);
    const before = await s.state();
    const result = await s.runJson();
    expect(result.exitCode).toBe(4);
    const { report } = result;
    expect(report.outcome).toBe("notStarted");
    expect(report.error).toContain(`unit ${ghost}.service does not exist`);
    expect(report.steps.every((x: { status: string }) => x.status === "pending")).toBe(true);
    expect(await s.state()).toEqual(before);
    const list = await rollpoint(["--store", s.store, "backups", "list"]);
    expect(list.stdout).toBe("no backups");
  });

  it("an invalid manifest exits 3 and touches nothing", async () => {
    const s = await scenario();
    writeFileSync(
      s.manifest,
      "apiVersion: rollpoint/v1\nname: app\nsteps:\n  - id: a\n    run: []\n",
    );
    const result = await rollpoint(["--store", s.store, "run", s.manifest], { env: s.env });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain("steps[0].run: must be a non-empty array of strings");
  });
});

describe("rollpoint run and an inline database password", () => {
  it("never writes the password to the store (catalog, logs, operations.log)", async () => {
    const s = await scenario({ failAt: "none" });
    const password = `inline-${Date.now()}-secret`;
    s.edit(`database: ${s.pg} }`, `database: ${s.pg}, password: "${password}" }`);
    const result = await rollpoint(["--store", s.store, "run", s.manifest], { env: s.env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain("an inline password ends up in version control");
    for (const file of storeFiles(s.store)) {
      expect(readFileSync(file).includes(password), file).toBe(false);
    }
  });
});

describe.runIf(process.env.ROLLPOINT_TEST_PG !== "external")(
  "rollpoint run against a server that asks for the password, given inline",
  () => {
    // rp_password_auth members authenticate with scram-sha-256 on the suite's own server.
    /** The scenario's database owned by a new role that logs in with an inline password. */
    const withInlinePassword = async (
      s: Awaited<ReturnType<typeof scenario>>,
      extra = "",
    ): Promise<string> => {
      const password = `inline-${Date.now()}`;
      // A superuser: the scenario's objects belong to postgres (a restore recreates them so).
      const role = await createRole(
        `LOGIN SUPERUSER PASSWORD '${password}' IN ROLE rp_password_auth`,
      );
      await sql(`ALTER DATABASE ${s.pg} OWNER TO ${role}`);
      s.edit(
        `user: ${PG.user}, database: ${s.pg} }`,
        `user: ${role}, password: "${password}", database: ${s.pg}${extra} }`,
      );
      return role;
    };

    it("a failed update is rolled back with the same password (exit 1, the database as it was)", async () => {
      const s = await scenario();
      await withInlinePassword(s);
      const before = await s.state();
      const result = await s.runJson();
      expect(result.exitCode, JSON.stringify(result.report.rollback ?? result.stderr)).toBe(1);
      expect(result.report.outcome).toBe("rolledBack");
      expect(await s.state()).toEqual(before);
    });

    it("rollback in a later process, the inline password gone: stops before any file is restored, saying which source is missing", async () => {
      const s = await scenario({ failAt: "none" });
      await withInlinePassword(s);
      const committed = await s.runJson();
      expect(committed.exitCode, JSON.stringify(committed.report.error)).toBe(0);
      const updated = readFileSync(join(s.app, "etc/app.conf"), "utf8");
      const env = { ...s.env };
      delete env.PGPASSWORD;
      const rolledBack = await rollpoint(["--store", s.store, "rollback", "latest"], { env });
      expect(rolledBack.exitCode, rolledBack.stdout + rolledBack.stderr).toBe(2);
      expect(rolledBack.stdout).toContain("an inline password is never kept in the catalog");
      expect(rolledBack.stdout).toContain("the rollback stopped before anything was restored");
      expect(rolledBack.stdout).not.toContain("as it was before the update");
      // The files were not put back without the database.
      expect(readFileSync(join(s.app, "etc/app.conf"), "utf8")).toBe(updated);
    });

    it("a committed update with a clone drops its snapshot with the same password", async () => {
      const s = await scenario({ failAt: "none" });
      const role = await withInlinePassword(s, ", strategy: clone");
      const result = await s.runJson();
      expect(result.exitCode, JSON.stringify(result.report.error)).toBe(0);
      expect(
        await sql(
          "SELECT datname FROM pg_database WHERE datname LIKE 'rp_snap_%' AND datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)",
          [role],
        ),
      ).toEqual([]);
    });
  },
);

describe("what a rollback claims", () => {
  it("without a rollback point, a failed run never says everything is as it was: nothing was read back", async () => {
    const dir = await tempDir();
    const manifest = join(dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: bare
steps:
  - { id: a, run: ["true"], undo: ["true"] }
  - { id: b, run: ["false"] }
`,
    );
    const result = await rollpoint(["--store", join(dir, "store"), "run", manifest]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).not.toContain("as it was before the update");
    expect(result.stdout).toContain(
      "rolled back: the undos ran; no rollback point protected anything, so nothing could be read back and compared",
    );
  });
});
