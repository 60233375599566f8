import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

async function host() {
  const dir = await tempDir();
  const app = join(dir, "app");
  makeTree(app, { "app.conf": "v1\n", "data/rows": "1\n" });
  const store = join(dir, "store");
  const manifest = (version: string) => {
    const file = join(dir, `${version}.yaml`);
    writeFileSync(
      file,
      `apiVersion: rollpoint/v1
name: app
rollbackPoint: { files: [${app}] }
steps:
  - id: install
    shell: echo ${version} > ${app}/app.conf && echo new > ${app}/added
    undo: [sh, -c, "echo undo-${version} >> ${dir}/undos"]
`,
    );
    return file;
  };
  return { dir, app, store, manifest };
}

describe("rollpoint rollback <run>", () => {
  it("rolls a committed run back by a prefix of its id: undos, files exact, recorded as a run naming it", async () => {
    const h = await host();
    const before = treeState(h.app);
    const run = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v2")])).stdout,
    );
    expect(run.outcome).toBe("committed");
    expect(readFileSync(join(h.app, "app.conf"), "utf8")).toBe("v2\n");

    const result = await rollpoint([
      "--store",
      h.store,
      "--json",
      "rollback",
      run.runId.slice(0, 24),
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ outcome: "rolledBack", reverts: run.runId });
    expect(treeState(h.app)).toEqual(before);
    expect(readFileSync(join(h.dir, "undos"), "utf8")).toBe("undo-v2\n");
    const history = await rollpoint(["--store", h.store, "history"]);
    expect(history.stdout).toContain(`${report.runId}\tapp`);
    // Duration per run; --module and --limit narrow it down.
    expect(history.stdout).toMatch(new RegExp(`${run.runId}\tapp\t\\S+\tcommitted\t\t\\d+\\.\\ds`));
    const one = await rollpoint(["--store", h.store, "history", "--module", "app", "--limit", "1"]);
    expect(one.stdout.trim().split("\n")).toHaveLength(1);
    expect(one.stdout).toContain(report.runId);
    const none = await rollpoint(["--store", h.store, "history", "--module", "other"]);
    expect(none.stdout.trim()).toBe("no runs");
    const shown = await rollpoint(["--store", h.store, "show", "latest"]);
    expect(shown.stdout).toContain(`run ${report.runId}`);
    expect(shown.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
  });

  it("refuses (exit 3) when a later run of the module committed, naming it; --force does it", async () => {
    const h = await host();
    const first = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v2")])).stdout,
    );
    const second = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v3")])).stdout,
    );
    const refused = await rollpoint(["--store", h.store, "rollback", first.runId]);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain(`run ${second.runId} of app committed after ${first.runId}`);
    const forced = await rollpoint(["--store", h.store, "rollback", "--force", first.runId]);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(readFileSync(join(h.app, "app.conf"), "utf8")).toBe("v1\n");
  });

  it("a run that was rolled back already cannot be rolled back (exit 3)", async () => {
    const h = await host();
    const run = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v2")])).stdout,
    );
    const back = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "rollback", run.runId])).stdout,
    );
    const again = await rollpoint(["--store", h.store, "rollback", back.runId]);
    expect(again.exitCode).toBe(3);
    expect(again.stderr).toContain("ended rolledBack: only a committed run");
  });
});

describe("a rollback that failed, tried again", () => {
  it("once its cause is fixed, `rollback <run>` restores the point again: the tree exact, the undos not run twice", async () => {
    const dir = await tempDir();
    const app = join(dir, "srv", "app");
    makeTree(app, { "app.conf": "v1\n", "data/rows": "1\n" });
    const before = treeState(app);
    const store = join(dir, "store");
    const manifest = join(dir, "m.yaml");
    // The update moves the protected path's parent and leaves a link in its place: the restore
    // refuses to write through it, and the rollback ends incomplete (exit 2).
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: app
rollbackPoint: { files: [${app}] }
steps:
  - id: move
    shell: mv ${dir}/srv ${dir}/srv.moved && ln -s srv.moved ${dir}/srv && echo v2 > ${app}/app.conf
    undo: [sh, -c, "echo undo >> ${dir}/undos"]
  - id: health
    run: ["false"]
`,
    );
    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode, run.stdout).toBe(2);
    const { runId } = JSON.parse(run.stdout);
    expect(JSON.parse(run.stdout).verdict).toContain(
      "`rollpoint rollback <run>` restores the rollback point again",
    );
    expect(readFileSync(join(dir, "undos"), "utf8")).toBe("undo\n");

    // The cause fixed by hand: the directory back where it was (with the update's change in it).
    await execa("sh", ["-c", `rm ${dir}/srv && mv ${dir}/srv.moved ${dir}/srv`]);
    expect(readFileSync(join(app, "app.conf"), "utf8")).toBe("v2\n");
    const again = await rollpoint(["--store", store, "rollback", runId]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain("everything in the rollback point is as it was");
    expect(treeState(app)).toEqual(before);
    expect(readFileSync(join(dir, "undos"), "utf8")).toBe("undo\n");
  });
});

describe("retention keeps the last good state", () => {
  it("prune --keep 0 --max-age 0d removes older points but never the last committed run's, so rollback still works", async () => {
    const h = await host();
    const first = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v2")])).stdout,
    );
    const second = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v3")])).stdout,
    );
    const pruned = await rollpoint([
      "--store",
      h.store,
      "--json",
      "backups",
      "prune",
      "--keep",
      "0",
      "--max-age",
      "0d",
    ]);
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    const result = JSON.parse(pruned.stdout);
    expect(result.removedPoints).toEqual([first.pointId]);
    expect(result.kept[0].reason).toContain(
      `rollback point ${second.pointId} of app's last committed run`,
    );
    const back = await rollpoint(["--store", h.store, "rollback", "latest"]);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(readFileSync(join(h.app, "app.conf"), "utf8")).toBe("v2\n");
  });
});

describe("order comes from the store, not the clock", () => {
  it("with the clock set back a day between two runs: history, latest, the later-run guard and keep-last follow the catalog", async () => {
    const h = await host();
    const first = JSON.parse(
      (await rollpoint(["--store", h.store, "--json", "run", h.manifest("v2")])).stdout,
    );
    // The second run, as a host whose clock was set back a day runs it (libfaketime).
    const second = await execa(
      "faketime",
      ["-f", "-1d", process.execPath, CLI, "--store", h.store, "--json", "run", h.manifest("v3")],
      { reject: false },
    );
    expect(second.exitCode, second.stderr).toBe(0);
    const secondRun = JSON.parse(second.stdout);
    // Its log says the clock went backwards; the order below does not depend on it.
    expect(readFileSync(join(h.store, "logs", `${secondRun.runId}.log`), "utf8")).toContain(
      `is behind the start of the last recorded run ${first.runId}`,
    );
    expect(readFileSync(join(h.app, "app.conf"), "utf8")).toBe("v3\n");

    const history = await rollpoint(["--store", h.store, "history"]);
    const lines = history.stdout.trim().split("\n");
    expect(lines[0]).toContain(secondRun.runId);
    expect(lines[1]).toContain(first.runId);
    // The first run cannot be rolled back over the second, which committed after it.
    const refused = await rollpoint(["--store", h.store, "rollback", first.runId]);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain(secondRun.runId);
    // keep-last 1 keeps the second run's point (the last good state), whatever the timestamps.
    const prune = await rollpoint([
      "--store",
      h.store,
      "--json",
      "backups",
      "prune",
      "--keep-last",
      "1",
    ]);
    expect(prune.exitCode, prune.stderr).toBe(0);
    // latest is the second run: rolling it back gives v2 back, not v1.
    const latest = await rollpoint(["--store", h.store, "--json", "rollback", "latest"]);
    expect(latest.exitCode, latest.stderr).toBe(0);
    expect(JSON.parse(latest.stdout).reverts).toBe(secondRun.runId);
    expect(readFileSync(join(h.app, "app.conf"), "utf8")).toBe("v2\n");
  });

  it("a point that no longer holds a member its plan restores is refused before anything is touched (exit 2), not rolled back 'as it was' without it", async () => {
    const h = await host();
    const other = join(h.dir, "other");
    makeTree(other, { "b.conf": "b1\n" });
    const file = join(h.dir, "two.yaml");
    writeFileSync(
      file,
      readFileSync(h.manifest("v2"), "utf8")
        .replace(`files: [${h.app}]`, `files: [${h.app}, ${other}]`)
        .replace("&& echo new", `&& echo b2 > ${other}/b.conf && echo new`),
    );
    const run = JSON.parse((await rollpoint(["--store", h.store, "--json", "run", file])).stdout);
    expect(run.outcome).toBe("committed");
    // The point's record of its first member is lost (a damaged catalog, a bug of a kind that
    // took fewer members than it planned): the plan's seqs no longer meet their members.
    const catalog = new Database(join(h.store, "catalog.db"));
    catalog
      .prepare("UPDATE backups SET point_seq = NULL WHERE point_id = ? AND point_seq = 0")
      .run(run.pointId);
    catalog.close();
    const after = { app: treeState(h.app), other: treeState(other) };
    const back = await rollpoint(["--store", h.store, "rollback", run.runId]);
    expect(back.exitCode, back.stdout + back.stderr).toBe(2);
    expect(back.stdout + back.stderr).toContain(
      `not restored: the rollback point ${run.pointId} does not hold what this run's plan restores`,
    );
    expect(back.stdout).not.toContain("as it was before the update");
    expect({ app: treeState(h.app), other: treeState(other) }).toEqual(after);
  });
});
