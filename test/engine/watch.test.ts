import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CLI, rollpoint } from "../helpers/cli.js";
import { appUpdate } from "../helpers/update.js";
import { until } from "../helpers/wait.js";

// A committed run's watch, as real processes: `run` exits 0 at the commit, the watch goes on
// in a process of its own (detached: this host's init is not systemd, and the tests ask for it
// anyway), probing a check that the test breaks when it wants. Judged by the files, the
// catalog's runs as `history` shows them, and what reaches a webhook.

interface WatchStatus {
  runId: string;
  state: string;
  pid?: number;
  running: boolean;
}

const stores: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  // A watch a failed test left running must not outlive it.
  for (const store of stores.splice(0)) {
    for (const w of await watches(store))
      if (w.pid) {
        try {
          process.kill(w.pid, "SIGKILL");
        } catch {
          // gone
        }
      }
  }
  for (const s of servers.splice(0)) s.close();
});

const ENV = { ...process.env, ROLLPOINT_WATCH_DETACHED: "1" };

async function watches(store: string): Promise<WatchStatus[]> {
  const s = await rollpoint(["--store", store, "--json", "status"], { env: ENV });
  return (JSON.parse(s.stdout) as { watches: WatchStatus[] }).watches;
}

async function watched(extra = "") {
  const u = await appUpdate(
    { "a.conf": "v1\n" },
    (app, dir) => `${extra}watch:
  for: 2m
  interval: 1s
  checks:
    - { command: [test, "!", -e, ${dir}/broken], once: true }
steps:
  - id: edit
    shell: echo v2 > ${app}/a.conf
`,
  );
  stores.push(u.store);
  return { ...u, breakIt: () => writeFileSync(join(u.dir, "broken"), "") };
}

async function history(store: string): Promise<Array<{ id: string; state: string }>> {
  const h = await rollpoint(["--store", store, "--json", "history"], { env: ENV });
  return (JSON.parse(h.stdout) as { runs: Array<{ id: string; state: string }> }).runs;
}

// The unfinished runs now, from a synchronous CLI call (a poll's condition cannot await).
function unfinishedNow(store: string): Array<{ state: string }> {
  const s = spawnSync(process.execPath, [CLI, "--store", store, "--json", "status"], {
    encoding: "utf8",
    env: ENV,
  });
  return (JSON.parse(s.stdout) as { unfinished: Array<{ state: string }> }).unfinished;
}

describe("watch", () => {
  it("a check that starts failing after the commit rolls the run back within the window, proven, notified, in history", async () => {
    const received: Array<Record<string, unknown>> = [];
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => {
        text += c.toString();
      });
      req.on("end", () => {
        received.push(JSON.parse(text) as Record<string, unknown>);
        res.writeHead(200).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/topic-secret`;
    const u = await watched(`notify:\n  - { url: "${hook}", on: [watchRolledBack] }\n`);
    const plan = await rollpoint(["--store", u.store, "plan", u.manifest], { env: ENV });
    expect(plan.stdout).toContain("after the commit, a watch for 2m (run exits 0 at the commit)");
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: ENV });
    expect(run.exitCode, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { runId: string; watch: { pid: number } };
    expect(report.watch.pid).toBeGreaterThan(0);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v2\n");
    const [w] = await watches(u.store);
    expect(w).toMatchObject({ runId: report.runId, state: "watching", running: true });

    u.breakIt();
    await until("the watch to roll the run back", () => received.length > 0, { seconds: 90 });
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v1\n");
    await until("the watch's process to end", () => !existsSync(`/proc/${report.watch.pid}`));
    const runs = await history(u.store);
    expect(runs.map((r) => r.state)).toEqual(["watchRolledBack", "committed"]);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ outcome: "watchRolledBack", module: "app" });
    expect(String(received[0]!.error)).toContain("watch check 1");
    const show = await rollpoint(["--store", u.store, "show", runs[0]!.id], { env: ENV });
    expect(show.stdout).toContain("rolled back by its watch");
    expect(await watches(u.store)).toEqual([]);
    const log = readFileSync(join(u.store, "logs", `${report.runId}.watch.log`), "utf8");
    expect(log).toContain("check failed: watch check 1");
    expect(log).not.toContain("topic-secret");
  });

  it("a run through the rollpoint command starts its watch with the command's young-generation cap", async () => {
    const u = await watched();
    const launcher = join(dirname(CLI), "../../bin/rollpoint");
    const run = spawnSync(launcher, ["--store", u.store, "--json", "run", u.manifest], {
      encoding: "utf8",
      env: ENV,
    });
    expect(run.status, run.stderr).toBe(0);
    const { watch } = JSON.parse(run.stdout) as { watch: { pid: number } };
    const cmdline = readFileSync(`/proc/${watch.pid}/cmdline`, "utf8").split("\0");
    process.kill(watch.pid, "SIGKILL");
    expect(cmdline.slice(1, 3)).toEqual(["--max-semi-space-size=1", CLI]);
    expect(cmdline.slice(3, 6)).toEqual(["--store", u.store, "watch"]);
  });

  it("a rollback that cannot begin (the store refuses its lock's file): exit 2, notified with the cause, and `status` says the update is still there", async () => {
    const u = await watched(
      `notify:\n  - { command: [sh, -c, "cat > NOTIFIED"], on: [rollbackFailed] }\n`,
    );
    const notified = join(u.dir, "notified");
    writeFileSync(u.manifest, readFileSync(u.manifest, "utf8").replace("NOTIFIED", notified));
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: ENV });
    expect(run.exitCode, run.stderr).toBe(0);
    const { runId, watch } = JSON.parse(run.stdout) as { runId: string; watch: { pid: number } };
    // The watch's own process is run here, under strace: every rename fails with EDQUOT, so the
    // lock (written to a temporary file, renamed into place) cannot be taken.
    process.kill(watch.pid, "SIGKILL");
    await until("the started watch to be gone", () => !existsSync(`/proc/${watch.pid}`));
    u.breakIt();
    const renames = "rename,renameat,renameat2";
    const followed = spawnSync(
      "strace",
      [
        ...["-f", "-qq", "-o", "/dev/null", "-e", `trace=${renames}`],
        ...["-e", `inject=${renames}:error=EDQUOT:when=1+`],
        ...[process.execPath, CLI, "--store", u.store, "watch", "run", runId],
      ],
      { encoding: "utf8", env: ENV, timeout: 90_000 },
    );
    expect(followed.status, followed.stdout + followed.stderr).toBe(2);
    expect(followed.stdout).toContain("the rollback could not begin");
    expect(followed.stdout).toContain("EDQUOT: disk quota exceeded");
    expect(followed.stdout).not.toContain("Unknown system error");
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v2\n");
    const message = readFileSync(notified, "utf8");
    expect(message).toContain("rollbackFailed");
    expect(message).toContain("cause: watch check 1");
    expect(message).toContain("the rollback could not begin");
    const status = await rollpoint(["--store", u.store, "status"], { env: ENV });
    expect(status.stdout).toContain(`WATCH COULD NOT ROLL BACK ${runId} (app)`);
    expect(status.stdout).toContain(`\`rollpoint rollback ${runId}\``);
    // What it says to type puts the update back.
    const back = await rollpoint(["--store", u.store, "rollback", runId], { env: ENV });
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v1\n");
    expect((await rollpoint(["--store", u.store, "status"], { env: ENV })).stdout).not.toContain(
      "WATCH COULD NOT",
    );
  });

  it("`watch stop` ends it: the update stays when the check fails later", async () => {
    const u = await watched();
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: ENV });
    const { runId, watch } = JSON.parse(run.stdout) as { runId: string; watch: { pid: number } };
    const stop = await rollpoint(["--store", u.store, "watch", "stop", runId], { env: ENV });
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(stop.stdout).toContain(`stopped the watch of run ${runId}: the update stays`);
    await until("the watch's process to end", () => !existsSync(`/proc/${watch.pid}`));
    u.breakIt();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v2\n");
    expect((await history(u.store)).map((r) => r.state)).toEqual(["committed"]);
    expect(await watches(u.store)).toEqual([]);
  });

  it("a later run of the module ends the earlier run's watch", async () => {
    const u = await watched();
    const first = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: ENV });
    const earlier = JSON.parse(first.stdout) as { runId: string; watch: { pid: number } };
    const second = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: ENV });
    const later = JSON.parse(second.stdout) as { runId: string; watch: { pid: number } };
    expect(second.exitCode).toBe(0);
    await until(
      "the earlier watch's process to end",
      () => !existsSync(`/proc/${earlier.watch.pid}`),
    );
    const active = await watches(u.store);
    expect(active.map((w) => w.runId)).toEqual([later.runId]);
    const log = readFileSync(join(u.store, "logs", `${later.runId}.log`), "utf8");
    expect(log).toContain(`ended the watch of run ${earlier.runId}`);
  });

  it("a watch whose process was killed is started again by `recover`, and still rolls back", async () => {
    const u = await watched();
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: ENV });
    const { watch } = JSON.parse(run.stdout) as { watch: { pid: number } };
    process.kill(watch.pid, "SIGKILL");
    await until("the killed watch to be gone", () => !existsSync(`/proc/${watch.pid}`));
    const [gone] = await watches(u.store);
    expect(gone!.running).toBe(false);
    const recovered = await rollpoint(["--store", u.store, "recover"], { env: ENV });
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    expect(recovered.stdout).toMatch(/the watch of \S+ started again \(process \d+\)/);
    const [again] = await watches(u.store);
    expect(again).toMatchObject({ state: "watching", running: true });
    u.breakIt();
    await until(
      "the restarted watch to roll back",
      () => readFileSync(join(u.app, "a.conf"), "utf8") === "v1\n",
      { seconds: 90 },
    );
    await until("the rollback to be recorded", () => !existsSync(`/proc/${again!.pid}`));
    expect((await history(u.store)).map((r) => r.state)).toEqual(["watchRolledBack", "committed"]);
  });

  it("the watch's process killed during its rollback: `recover` finishes it, outcome watchRolledBack", async () => {
    const u = await watched();
    // The run commits and never reaches this state; its watch's rollback does, and parks there.
    const paused = { ...ENV, ROLLPOINT_PAUSE_AT: "state:rollingBack.returnServices" };
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest], { env: paused });
    expect(run.exitCode, run.stderr).toBe(0);
    const { watch } = JSON.parse(run.stdout) as { watch: { pid: number } };
    u.breakIt();
    await until(
      "the watch's rollback to park",
      () => readFileSync(join(u.app, "a.conf"), "utf8") === "v1\n",
      { seconds: 90 },
    );
    await until("the rollback run to reach returnServices", () =>
      unfinishedNow(u.store).some((r) => r.state === "rollingBack.returnServices"),
    );
    process.kill(watch.pid, "SIGKILL");
    await until("the watch to be gone", () => !existsSync(`/proc/${watch.pid}`));
    const recovered = await rollpoint(["--store", u.store, "recover"], { env: ENV });
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stdout).toMatch(/the watch of \S+ ended rolledBack/);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v1\n");
    expect((await history(u.store)).map((r) => r.state)).toEqual(["watchRolledBack", "committed"]);
    expect(await watches(u.store)).toEqual([]);
  });
});
