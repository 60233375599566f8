import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keptBy } from "../../src/backups/retention.js";
import { GlobalRollback } from "../../src/index.js";
import { rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir } from "../helpers/tree.js";

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe("prune with restic's rules", () => {
  it("--dry-run lists what would go and why the rest stays; prune then removes exactly that", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "app"), { "a.conf": "a" });
    // Backups at known local days (the runs below use TZ=UTC): today, yesterday twice, and
    // 2, 3, 10 and 40 days ago, each at 01:00 or 02:00.
    const today = new Date();
    const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
    const times = [
      Date.now() - 1000,
      midnight - DAY + 2 * HOUR,
      midnight - DAY + HOUR,
      midnight - 2 * DAY + HOUR,
      midnight - 3 * DAY + HOUR,
      midnight - 10 * DAY + HOUR,
      midnight - 40 * DAY + HOUR,
    ];
    const ids: string[] = [];
    for (const t of [...times].reverse()) {
      const library = new GlobalRollback({ backupDir: store, clock: () => t });
      ids.unshift((await library.backupFile(join(dir, "app"), "b", "app")).backupId);
      await library.close();
    }
    const env = { ...process.env, TZ: "UTC" };
    const dry = await rollpoint(
      ["--store", store, "backups", "prune", "--keep-daily", "3", "--dry-run"],
      { env },
    );
    expect(dry.exitCode, dry.stderr).toBe(0);
    const day = (t: number) => new Date(t).toISOString().slice(0, 10);
    expect(dry.stdout.split("\n")).toEqual([
      `keep ${ids[0]} (app, ${new Date(times[0]!).toISOString()}): keep-daily ${day(times[0]!)}`,
      `keep ${ids[1]} (app, ${new Date(times[1]!).toISOString()}): keep-daily ${day(times[1]!)}`,
      `would remove ${ids[2]} (app, ${new Date(times[2]!).toISOString()})`,
      `keep ${ids[3]} (app, ${new Date(times[3]!).toISOString()}): keep-daily ${day(times[3]!)}`,
      `would remove ${ids[4]} (app, ${new Date(times[4]!).toISOString()})`,
      `would remove ${ids[5]} (app, ${new Date(times[5]!).toISOString()})`,
      `would remove ${ids[6]} (app, ${new Date(times[6]!).toISOString()})`,
      "dry run: would remove 4 of 7 units and 0 runs with their logs; nothing was changed",
    ]);
    const listed = async () =>
      JSON.parse(
        (await rollpoint(["--store", store, "--json", "backups", "list"])).stdout,
      ).backups.map((b: { backupId: string }) => b.backupId);
    expect(await listed()).toEqual(ids);

    const json = JSON.parse(
      (
        await rollpoint(["--store", store, "--json", "backups", "prune", "--keep-daily", "3"], {
          env,
        })
      ).stdout,
    );
    expect(json.dryRun).toBe(false);
    expect(json.removedBackups.sort()).toEqual([ids[2], ids[4], ids[5], ids[6]].sort());
    expect(await listed()).toEqual([ids[0], ids[1], ids[3]]);

    // Rules add up: keep-last keeps the newest, keep-within 2w all three that are left.
    const within = await rollpoint(
      [
        "--store",
        store,
        "backups",
        "prune",
        "--keep-last",
        "1",
        "--keep-within",
        "2w",
        "--dry-run",
      ],
      { env },
    );
    expect(within.stdout).toContain(
      `keep ${ids[0]} (app, ${new Date(times[0]!).toISOString()}): keep-last, keep-within`,
    );
    expect(within.stdout).toContain("dry run: would remove 0 of 3 units");
  });

  it("bad values are named (exit 3)", async () => {
    const dir = await tempDir();
    const result = await rollpoint([
      "--store",
      join(dir, "s"),
      "backups",
      "prune",
      "--keep-within",
      "3 weeks",
    ]);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(
      '--keep-within must be a duration like 30d, 2w or 1y, got "3 weeks"',
    );
  });

  it("weekly and monthly buckets are ISO weeks and calendar months", () => {
    process.env.TZ = "UTC";
    const at = (iso: string) => Date.parse(iso);
    const times = [
      "2026-11-26T10:00:00Z", // Thursday, week 48
      "2026-11-23T10:00:00Z", // Monday, week 48
      "2026-11-22T10:00:00Z", // Sunday, week 47
      "2026-10-31T10:00:00Z", // October
      "2026-10-01T10:00:00Z",
      "2025-12-29T10:00:00Z", // ISO week 1 of 2026
    ].map(at);
    expect(keptBy({ keepWeekly: 3 }, times, at("2026-11-27T00:00:00Z"))).toEqual([
      ["keep-weekly 2026-W48"],
      [],
      ["keep-weekly 2026-W47"],
      ["keep-weekly 2026-W44"],
      [],
      [],
    ]);
    expect(keptBy({ keepMonthly: 2 }, times, at("2026-11-27T00:00:00Z"))).toEqual([
      ["keep-monthly 2026-11"],
      [],
      [],
      ["keep-monthly 2026-10"],
      [],
      [],
    ]);
    expect(keptBy({ keepWeekly: 10 }, times, 0).at(-1)).toEqual(["keep-weekly 2026-W01"]);
  });
});

describe("retention reaches runs and their logs", () => {
  it("prune --keep-last 1 after three runs: the older runs' records and logs go with their points", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const app = join(dir, "app");
    makeTree(app, { "a.conf": "v0\n" });
    const manifest = join(dir, "m.yaml");
    const runs: string[] = [];
    for (const version of ["v1", "v2", "v3"]) {
      writeFileSync(
        manifest,
        `apiVersion: rollpoint/v1
name: app
rollbackPoint: { files: [${app}] }
steps:
  - id: install
    shell: echo ${version} > ${app}/a.conf; head -c 100000 /dev/zero | tr '\\\\0' x
`,
      );
      const run = await rollpoint(["--store", store, "--json", "run", manifest]);
      expect(run.exitCode, run.stderr).toBe(0);
      runs.push(JSON.parse(run.stdout).runId);
    }
    expect(readdirSync(join(store, "logs")).sort()).toEqual(runs.map((r) => `${r}.log`).sort());
    const dry = await rollpoint([
      "--store",
      store,
      "--json",
      "backups",
      "prune",
      "--keep-last",
      "1",
      "--dry-run",
    ]);
    expect(JSON.parse(dry.stdout).removedRuns.sort()).toEqual(runs.slice(0, 2).sort());
    expect(readdirSync(join(store, "logs"))).toHaveLength(3);
    const prune = await rollpoint(["--store", store, "backups", "prune", "--keep-last", "1"]);
    expect(prune.exitCode, prune.stderr).toBe(0);
    expect(prune.stdout).toContain("and 2 runs with their logs");
    expect(readdirSync(join(store, "logs"))).toEqual([`${runs[2]}.log`]);
    const history = await rollpoint(["--store", store, "history"]);
    expect(history.stdout.trim().split("\n")).toHaveLength(1);
    expect(history.stdout).toContain(runs[2]);
    // The last run can still be rolled back: its point and record stayed.
    const rollback = await rollpoint(["--store", store, "rollback", "latest"]);
    expect(rollback.exitCode, rollback.stdout + rollback.stderr).toBe(0);
  });
});
