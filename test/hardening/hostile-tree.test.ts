import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBackup, rollpoint } from "../helpers/cli.js";
import { isRoot, makeTree, rsyncDifferences, tempDir, treeState } from "../helpers/tree.js";

/**
 * A local user who owns a directory inside a protected tree (uploads/, a home, a service's data)
 * races a root-run restore or backup by a real attacker's means: an unprivileged account, inotify
 * on rollpoint's own opens and creations, and a swap of a name for a link to a root-owned victim
 * directory standing for /etc (or for a FIFO). The oracle: the victim's bytes, owners, modes and
 * link counts unchanged; the store never holds the victim's secret; every command ends.
 */

const ATTACKER = fileURLToPath(new URL("../fixtures/hostile/attacker.py", import.meta.url));
const USER = "rp-hostile";
const SECRET = `root's secret ${Math.random().toString(36).slice(2)}`;
let uid = -1;

// The suite runs as root (the tool's real use); without root there is no one to attack.
const describeAsRoot = isRoot ? describe : describe.skip;

beforeAll(() => {
  if (!isRoot) return;
  try {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
  } catch {
    // Left over from an interrupted run: the same account serves.
  }
  uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim());
});

afterAll(() => {
  if (!isRoot) return;
  spawnSync("pkill", ["-KILL", "-u", USER]);
  execFileSync("userdel", [USER]);
});

/** The victim: every path's type, mode, owner, bytes, plus link counts (a new hard link shows). */
function victimState(victim: string) {
  return treeState(victim).map((p) => ({ ...p, nlink: lstatSync(join(victim, p.path)).nlink }));
}

/**
 * `wide`: own.txt large and 300 more files after sub/, so that a backup reads own.txt's bytes
 * tens of milliseconds after it opened sub/ (large files are read last): the attacker, woken by
 * that open, has time to win even on a loaded machine.
 */
async function scene(wide = false) {
  const dir = await tempDir();
  // The user must reach its own directory through ours.
  chmodSync(dir, 0o755);
  const app = join(dir, "app");
  const uploads = join(app, "uploads");
  const victim = join(dir, "victim");
  const store = join(dir, "store");
  makeTree(victim, {
    passwd: { content: "root:x:0:0::/root:/bin/sh\n", mode: 0o644 },
    shadow: { content: `${SECRET}\n`, mode: 0o600 },
    "keep/x": "victim's own\n",
  });
  makeTree(app, { "etc/app.conf": { content: "root's config\n", mode: 0o600 } });
  mkdirSync(uploads);
  mkdirSync(join(uploads, "sub"));
  writeFileSync(
    join(uploads, "own.txt"),
    wide ? "the user's own\n".repeat(150_000) : "the user's own\n",
  );
  for (let i = 0; wide && i < 300; i++) writeFileSync(join(uploads, `z${i}.txt`), `${i}\n`);
  writeFileSync(join(uploads, "sub/a.txt"), "a\n");
  for (const path of [
    uploads,
    join(uploads, "sub"),
    join(uploads, "own.txt"),
    join(uploads, "sub/a.txt"),
  ])
    chownSync(path, uid, uid);
  return { dir, app, uploads, victim, store, victimBefore: victimState(victim) };
}

/** Start the attacker on `dir` as the unprivileged user; resolves once its watches are set. */
async function attack(mode: string, dir: string, victim: string) {
  // A copy the user can read (the checkout may sit below a directory only root enters).
  const script = join(victim, "..", "attacker.py");
  writeFileSync(script, readFileSync(ATTACKER), { mode: 0o755 });
  const child: ChildProcess = spawn(
    "runuser",
    ["-u", USER, "--", "/usr/bin/python3", script, mode, dir, victim],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let said = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`the attacker exited (${code}): ${said}`)));
  });
  return {
    said: () => said,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        // runuser's child too: every process of the account.
        spawnSync("pkill", ["-KILL", "-u", USER]);
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** Run rollpoint with `args` while the attacker plays `mode` in the scene's uploads/. */
async function underAttack(
  mode: string,
  s: Awaited<ReturnType<typeof scene>>,
  args: string[],
  options: { timeout?: number } = {},
) {
  const attacker = await attack(mode, s.uploads, s.victim);
  try {
    return { result: await rollpoint(["--store", s.store, ...args], options), said: attacker.said };
  } finally {
    await attacker.stop();
  }
}

/** Copy `app` as it is (the pristine state rsync compares against later). */
function pristineCopy(app: string, dir: string): string {
  const copy = join(dir, "pristine");
  execFileSync("cp", ["-a", app, copy]);
  return copy;
}

describeAsRoot("a hostile local user racing a root-run restore", () => {
  it.each([
    ["dir", "a directory swapped for a link to /etc"],
    ["file", "a file needing a metadata fix swapped for a link to /etc/shadow"],
    ["temp", "the restore's own temporary file swapped for a link to /etc/shadow"],
  ])("%s: %s: nothing outside the tree changes, and a later restore is exact", async (mode) => {
    const s = await scene();
    const pristine = pristineCopy(s.app, s.dir);
    const id = await createBackup(s.store, s.app);
    // The update: contents, a mode and a new file, all in the user's directory.
    writeFileSync(join(s.uploads, "sub/a.txt"), "changed by the update\n");
    writeFileSync(join(s.uploads, "sub/new.txt"), "made by the update\n");
    writeFileSync(join(s.uploads, "own.txt"), "changed by the update too\n");
    chmodSync(join(s.uploads, "own.txt"), 0o666);
    if (mode === "file") writeFileSync(join(s.uploads, "own.txt"), "the user's own\n");
    const { result: restored, said } = await underAttack(mode, s, ["backups", "restore", id]);
    // The oracle first: nothing outside the tree was written, removed, chowned or chmodded.
    expect(victimState(s.victim)).toEqual(s.victimBefore);
    const output = restored.stdout + restored.stderr;
    expect([0, 2], output).toContain(restored.exitCode);
    expect(output).not.toMatch(/unexpected error| {4}at /);
    // Caught as the swap happens, or, when the swap lands after rollpoint's last look at the
    // path, by the restore's read-back proof: either way exit 2, naming it.
    if (said().includes("swapped") && restored.exitCode === 2) {
      expect(output).toMatch(
        /while rollpoint was working on it: nothing was done through it|is not exact: read back, .*\n.*uploads\/own\.txt: /,
      );
    }
    // The attacker gone, the same restore makes the tree exact: the links it left are removed.
    const again = await rollpoint(["--store", s.store, "backups", "restore", id]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    expect(await rsyncDifferences(pristine, s.app)).toBe("");
    expect(victimState(s.victim)).toEqual(s.victimBefore);
  });

  it("a chain 20,000 directories deep built by the update is removed, and the tree comes back", async () => {
    const s = await scene();
    const pristine = pristineCopy(s.app, s.dir);
    const id = await createBackup(s.store, s.app);
    // As the user, with relative paths (no absolute path that deep can be named).
    execFileSync("runuser", [
      "-u",
      USER,
      "--",
      "/usr/bin/python3",
      "-c",
      "import os\nos.chdir(os.sys.argv[1])\nfor _ in range(20000):\n  os.mkdir('d'); os.chdir('d')\nopen('bottom.txt','w').write('x')",
      join(s.uploads, "sub"),
    ]);
    const restored = await rollpoint(["--store", s.store, "backups", "restore", id]);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
    expect(readdirSync(join(s.uploads, "sub"))).toEqual(["a.txt"]);
    expect(await rsyncDifferences(pristine, s.app)).toBe("");
  });

  it("a tree deeper than 256 directories is refused at backup time, saying where and why", async () => {
    const s = await scene();
    let path = join(s.uploads, "sub");
    for (let i = 0; i < 260; i++) {
      path = join(path, "d");
      mkdirSync(path);
    }
    const created = await rollpoint([
      "--store",
      s.store,
      "backups",
      "create",
      s.app,
      "--module",
      "app",
    ]);
    expect(created.exitCode).toBe(4);
    expect(created.stderr).toContain("more than 256 directories below the protected path");
    expect(created.stderr).not.toMatch(/unexpected error| {4}at /);
  });
});

describeAsRoot("a hostile local user racing a root-run backup", () => {
  it("a file swapped for a link to /etc/shadow after its lstat: the secret never reaches the store", async () => {
    const s = await scene(true);
    const { result: created, said } = await underAttack("file", s, [
      "backups",
      "create",
      s.app,
      "--module",
      "app",
    ]);
    expect(said()).toContain("swapped");
    expect(created.exitCode, created.stderr).toBe(0);
    // Packs and whole objects hold contents as they are: grep finds any copy of the secret.
    const grep = spawnSync("grep", ["-rlF", SECRET, s.store], { encoding: "utf8" });
    expect(grep.stdout).toBe("");
    expect(grep.status).toBe(1);
  });

  it("a file swapped for a FIFO: the backup ends and records the FIFO, never waits on it", async () => {
    const s = await scene(true);
    const { result: created, said } = await underAttack(
      "fifo",
      s,
      ["--json", "backups", "create", s.app, "--module", "app"],
      { timeout: 60_000 },
    );
    expect(said()).toContain("swapped");
    expect(created.exitCode, created.stderr).toBe(0);
    expect(created.stdout + created.stderr).toContain(
      `${join(s.uploads, "own.txt")}: became a fifo while being backed up`,
    );
  });

  it("files deleted between the walk and their read: recorded as absent with a warning, the backup stands", async () => {
    const s = await scene();
    for (let i = 0; i < 400; i++) {
      const path = join(s.uploads, `f${String(i).padStart(3, "0")}.txt`);
      writeFileSync(path, `temp ${i}\n`);
      chownSync(path, uid, uid);
    }
    const { result: created, said } = await underAttack("vanish", s, [
      "--json",
      "backups",
      "create",
      s.app,
      "--module",
      "app",
    ]);
    expect(said()).toContain("deleted");
    expect(created.exitCode, created.stderr).toBe(0);
    // What the listing holds of them now restores exactly: nothing of a deleted file comes back
    // as something it never was.
    expect(created.stdout + created.stderr).toContain(
      "disappeared while being backed up; recorded as absent",
    );
  });
});
