import { spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, rollpoint } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

/** A two-step update whose second step fails, on a small tree. */
function failing() {
  return appUpdate(
    { "a.conf": "a=1\n" },
    (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/a.conf && echo edited
  - id: health
    run: ["false"]
`,
  );
}

describe("command-line conventions", () => {
  it("every subcommand's --help lists the global options", async () => {
    const help = await rollpoint(["backups", "list", "--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Global Options:");
    for (const flag of ["--store <dir>", "--json", "-q, --quiet", "-v, --verbose"]) {
      expect(help.stdout).toContain(flag);
    }
    expect((await rollpoint(["--help"])).stdout).toContain("~/.local/state/rollpoint for others");
  });

  it("init writes a starter manifest that validates, and never over a file", async () => {
    const dir = await tempDir();
    const first = await rollpoint(["init", "--name", "billing"], { cwd: dir });
    expect(first.exitCode, first.stderr).toBe(0);
    const text = readFileSync(join(dir, "update.yaml"), "utf8");
    expect(text).toContain("name: billing");
    // The editor's schema: the installed package's own file, which exists.
    const schema = /\$schema=(\S+)/.exec(text)![1]!;
    expect(statSync(schema).isFile()).toBe(true);
    const valid = await rollpoint(["validate", "update.yaml"], { cwd: dir });
    expect(valid.exitCode, valid.stdout + valid.stderr).toBe(0);
    writeFileSync(join(dir, "update.yaml"), "mine\n");
    const again = await rollpoint(["init"], { cwd: dir });
    expect(again.exitCode).toBe(3);
    expect(again.stderr).toContain(`${join(dir, "update.yaml")} exists; nothing was written`);
    expect(readFileSync(join(dir, "update.yaml"), "utf8")).toBe("mine\n");
  });

  it("completion: bash completes commands, subcommands, options, and files elsewhere", async () => {
    const dir = await tempDir();
    const script = join(dir, "rollpoint.bash");
    writeFileSync(script, (await rollpoint(["completion", "bash"])).stdout);
    writeFileSync(join(dir, "update.yaml"), "");
    const complete = async (...words: string[]) =>
      (
        await execa(
          "bash",
          [
            "-c",
            `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _rollpoint; echo "\${COMPREPLY[*]}"`,
          ],
          { cwd: dir },
        )
      ).stdout;
    expect(await complete("rollpoint", "ba")).toBe("backups");
    expect((await complete("rollpoint", "--store", "/tmp", "backups", "")).split(" ")).toEqual(
      expect.arrayContaining(["list", "restore", "prune"]),
    );
    expect(await complete("rollpoint", "backups", "restore", "--d")).toBe("--dry-run");
    expect(await complete("rollpoint", "plan", "upd")).toBe("update.yaml");
    expect((await rollpoint(["completion", "fish"])).exitCode).toBe(3);
  });

  it("-q prints only the outcome; -v every state; both at once is a usage error", async () => {
    const quiet = await failing();
    const q = await rollpoint(["--store", quiet.store, "-q", "run", quiet.manifest]);
    expect(q.exitCode).toBe(1);
    expect(q.stdout).not.toContain("step edit");
    expect(q.stdout).not.toContain("rollingBack");
    expect(q.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
    const loud = await failing();
    const v = await rollpoint(["--store", loud.store, "-v", "run", loud.manifest]);
    expect(v.stdout).toMatch(/ step\.edit\n/);
    expect(v.stdout).toMatch(/ rollingBack\.restore\.file-1\n/);
    const both = await rollpoint(["-q", "-v", "status"]);
    expect(both.exitCode).toBe(3);
    expect(both.stderr).toContain("-q and -v cannot be given together");
  });

  it("on a terminal: a spinner (steps, the rollback point, each part of the rollback), an undo's output as it comes, colours; no control codes at all where TERM=dumb", async () => {
    const u = await appUpdate(
      { "a.conf": "a=1\n" },
      (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/a.conf
    undo: [sh, -c, "echo undoing; sleep 0.3; echo undone"]
  - id: health
    run: ["false"]
`,
    );
    const onTerminal = (term: string) =>
      execa(
        "script",
        ["-qec", `${process.execPath} ${CLI} --store ${u.store} run ${u.manifest}`, "/dev/null"],
        {
          env: { ...process.env, TERM: term },
          reject: false,
        },
      );
    const xterm = await onTerminal("xterm");
    expect(xterm.stdout).toContain("\x1b[");
    expect(xterm.stdout).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] rollingBack\.undo\.edit {2}\d+\.\ds/);
    expect(xterm.stdout).toMatch(/│\S* undone/);
    const dumb = await onTerminal("dumb");
    expect(dumb.stdout).toContain("rolled back");
    expect(dumb.stdout).not.toContain("\x1b");
  });

  it("under journald: the journal's <N> priorities, no timestamps of our own", async () => {
    const u = await failing();
    const log = join(u.dir, "journal.txt");
    // stdout is the file itself, as systemd hands a service its journal stream.
    const fd = openSync(log, "w");
    const { dev, ino } = fstatSync(fd);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, "--store", u.store, "run", u.manifest], {
        stdio: ["ignore", fd, "ignore"],
        env: { ...process.env, JOURNAL_STREAM: `${dev}:${ino}` },
      });
      child.on("error", reject);
      child.on("exit", () => resolve());
    });
    closeSync(fd);
    const lines = readFileSync(log, "utf8").split("\n").filter(Boolean);
    expect(lines).toContain("<6>step edit …");
    expect(lines).toContain("<6>  edit | edited");
    expect(lines).toContainEqual(
      expect.stringMatching(/^<3>✗ health \(\d+\.\ds\): false exited with 1$/),
    );
    expect(lines).toContain("<4>rollingBack.restore.file-1");
    expect(lines.filter((l) => /^\d{4}-\d\d-\d\dT/.test(l))).toEqual([]);
  });
});
