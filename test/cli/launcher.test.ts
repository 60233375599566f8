import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { startPausedAt } from "../helpers/paused.js";
import { tempDir } from "../helpers/tree.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const MAIN = join(ROOT, "dist/cli/main.js");

/** The command as npm installs it: a symlink elsewhere to the package's bin/rollpoint. */
async function linked(): Promise<{ dir: string; rollpoint: string }> {
  const dir = await tempDir();
  mkdirSync(join(dir, "bin"));
  const rollpoint = join(dir, "bin", "rollpoint");
  symlinkSync(join(ROOT, "bin/rollpoint"), rollpoint);
  return { dir, rollpoint };
}

describe("the rollpoint command (bin/rollpoint)", () => {
  it("package.json's bin is the launcher", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
      files: string[];
    };
    expect(pkg.bin).toEqual({ rollpoint: "bin/rollpoint" });
    expect(pkg.files).toContain("bin");
  });

  it("through a symlink, runs the CLI with the young generation capped, in its own pid", async () => {
    const { dir, rollpoint } = await linked();
    // A node first on PATH that says what it was given and which process it is.
    const shim = join(dir, "shim");
    mkdirSync(shim);
    writeFileSync(join(shim, "node"), '#!/bin/sh\necho "$$"\nfor a in "$@"; do echo "$a"; done\n');
    chmodSync(join(shim, "node"), 0o755);
    const child = execa(rollpoint, ["status", "--json", "a b"], {
      env: { PATH: `${shim}:${process.env.PATH}` },
    });
    const { stdout } = await child;
    const [pid, ...argv] = stdout.split("\n");
    expect(Number(pid)).toBe(child.pid);
    expect(argv).toEqual(["--max-semi-space-size=1", MAIN, "status", "--json", "a b"]);
  });

  it("with the real node: the running command is node with the flag, at the pid it was started as", async () => {
    const { dir, rollpoint } = await linked();
    mkdirSync(join(dir, "tree"));
    writeFileSync(join(dir, "tree", "a"), "a\n");
    const { child, exited } = await startPausedAt(
      "backup:object",
      ["--store", join(dir, "store"), "backups", "create", "--module", "m", join(dir, "tree")],
      process.env,
      [rollpoint],
    );
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0");
    child.kill("SIGKILL");
    await exited;
    expect(cmdline.slice(1, 3)).toEqual(["--max-semi-space-size=1", MAIN]);
    expect(cmdline[0]).toMatch(/node$/);
    expect(cmdline.slice(3, 5)).toEqual(["--store", join(dir, "store")]);
  });

  it("caps malloc's arenas for rollpoint, not for the steps it runs, and keeps a user's own setting", async () => {
    const { dir, rollpoint } = await linked();
    mkdirSync(join(dir, "app"));
    writeFileSync(join(dir, "app", "a"), "a\n");
    const seen = join(dir, "seen");
    const manifest = join(dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1\nname: m\nrollbackPoint: { files: [${join(dir, "app")}] }\nsteps:\n  - { id: s, run: ["sh", "-c", 'echo "\${MALLOC_ARENA_MAX-unset} \${ROLLPOINT_ARENAS_FROM_LAUNCHER-unset}" >> ${seen}'] }\n`,
    );
    const { MALLOC_ARENA_MAX: _, ...env } = process.env;
    const run = (extra: Record<string, string>) =>
      execa(rollpoint, ["--store", join(dir, "store"), "-q", "run", manifest], {
        env: { ...env, ...extra },
        extendEnv: false,
        reject: false,
      });
    const mine = await run({});
    expect(mine.exitCode, mine.stderr).toBe(0);
    const users = await run({ MALLOC_ARENA_MAX: "4" });
    expect(users.exitCode, users.stderr).toBe(0);
    expect(readFileSync(seen, "utf8")).toBe("unset unset\n4 unset\n");
    // glibc reads the variable from the environment node started with.
    const { child, exited } = await startPausedAt(
      "backup:object",
      ["--store", join(dir, "store2"), "backups", "create", "--module", "m", join(dir, "app")],
      env,
      [rollpoint],
    );
    const environ = readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
    child.kill("SIGKILL");
    await exited;
    expect(environ).toContain("MALLOC_ARENA_MAX=2");
  });

  it("prints the version like the CLI itself", async () => {
    const { rollpoint } = await linked();
    const launched = await execa(rollpoint, ["--version"]);
    const direct = await execa(process.execPath, [MAIN, "--version"]);
    expect(launched.stdout).toBe(direct.stdout);
    expect(launched.exitCode).toBe(0);
  });
});
