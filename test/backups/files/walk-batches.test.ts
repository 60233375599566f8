import { execFileSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { compileExcludes } from "../../../src/backups/files/exclude.js";
import { walkLazily } from "../../../src/backups/files/walk.js";
import { claimProcess } from "../../../src/util/owned-process.js";

const raw = (dir: string, ...name: number[]) =>
  Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name)]);

/** A tree with a directory of more names than one lstat batch, raw-byte names, a link, a FIFO. */
function tree(): string {
  const root = mkdtempSync(join(tmpdir(), "rp-walk-"));
  mkdirSync(join(root, "many"));
  for (let i = 0; i < 1300; i++) writeFileSync(join(root, "many", `f${i}`), `${i}\n`);
  mkdirSync(join(root, "many", "sub"));
  writeFileSync(join(root, "many", "sub", "deep"), "deep\n");
  writeFileSync(raw(root, 0xff, 0xfe), "raw\n");
  symlinkSync("many/f1", join(root, "link"));
  execFileSync("mkfifo", [join(root, "fifo")]);
  return root;
}

/** Where the process is, also when that directory was removed (process.cwd() then throws). */
const whereWeAre = () => readlinkSync("/proc/self/cwd");

function walked(root: string): string[] {
  const out: string[] = [];
  const here = whereWeAre();
  for (const path of walkLazily(root, compileExcludes([])) ?? []) {
    // Between two paths the process is where it was: a caller's relative path means the same.
    expect(whereWeAre()).toBe(here);
    const s = path.stats;
    out.push(`${path.rel} ${s.mode} ${s.ino} ${s.size} ${s.mtimeNs} ${s.nlink}`);
  }
  return out;
}

describe("the walk's lstat of a directory's names", () => {
  afterEach(() => claimProcess(false));

  it("relative to a borrowed working directory (the CLI) sees what the descriptor path sees, and gives the directory back", () => {
    const root = tree();
    const cwd = mkdtempSync(join(tmpdir(), "rp-cwd-"));
    writeFileSync(join(cwd, "mine"), "the caller's file\n");
    const before = process.cwd();
    process.chdir(cwd);
    try {
      const throughProc = walked(root);
      claimProcess();
      const borrowed = walked(root);
      expect(borrowed).toEqual(throughProc);
      // Every path once: root, many/ and its 1,300 files and sub/deep, the raw name, link, fifo.
      expect(borrowed).toHaveLength(1 + 1 + 1300 + 2 + 3);
      expect(borrowed.some((line) => line.startsWith("\udcff\udcfe "))).toBe(true);
      expect(process.cwd()).toBe(cwd);
      expect(readFileSync("mine", "utf8")).toBe("the caller's file\n");
    } finally {
      process.chdir(before);
    }
  });

  it("from a working directory that was removed: the same walk, and the process is back in it", () => {
    const root = tree();
    const gone = mkdtempSync(join(tmpdir(), "rp-gone-"));
    const before = process.cwd();
    const expected = walked(root);
    process.chdir(gone);
    execFileSync("rmdir", [gone]);
    try {
      claimProcess();
      expect(walked(root)).toEqual(expected);
      expect(whereWeAre()).toBe(`${gone} (deleted)`);
    } finally {
      process.chdir(before);
    }
  });

  it("a large walk has a read-ahead (ls, a child process) while it runs, and none once it ends", async () => {
    const root = mkdtempSync(join(tmpdir(), "rp-ahead-"));
    // More paths than ls may go ahead of the walk (20,000) and its pipe holds: it is still there.
    for (let d = 0; d < 40; d++) {
      mkdirSync(join(root, `d${d}`));
      for (let i = 0; i < 1000; i++) writeFileSync(join(root, `d${d}`, `f${i}`), "");
    }
    // This process's children that are ls reading the tree (after sh execs it).
    const readers = () =>
      readdirSync("/proc")
        .filter((pid) => /^\d+$/.test(pid))
        .filter((pid) => {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            return (
              ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(root)
            );
          } catch {
            return false;
          }
        });
    const fifos = () => readdirSync(tmpdir()).filter((n) => n.startsWith("rollpoint-ahead-"));
    const fifosBefore = fifos();
    let during: string[] = [];
    let running = "";
    let paths = 0;
    const command = (pid: string) =>
      readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    for (const _ of walkLazily(root, compileExcludes([])) ?? []) {
      if (++paths !== 5500) continue;
      // sh execs ls: on a busy machine that may take a moment.
      for (let i = 0; i < 100; i++) {
        during = readers();
        running = during.length === 1 ? command(during[0]!) : "";
        if (running === "ls") break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
    expect(paths).toBe(1 + 40 + 40_000);
    expect(during).toHaveLength(1);
    expect(running).toBe("ls");
    // Killed when the walk ends (a zombie until this process's loop reaps it).
    for (
      let i = 0;
      i < 100 && readers().some((pid) => !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8")));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    expect(
      readers().filter((pid) => !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))),
    ).toEqual([]);
    // The FIFO's private directory is gone as soon as both ends are open.
    expect(fifos()).toEqual(fifosBefore);
  });

  it("without ls (nor sh, mkfifo) on PATH, a large walk goes on without a read-ahead", () => {
    const root = mkdtempSync(join(tmpdir(), "rp-ahead-"));
    for (let i = 0; i < 5000; i++) writeFileSync(join(root, `f${i}`), "");
    const path = process.env.PATH;
    process.env.PATH = mkdtempSync(join(tmpdir(), "rp-nopath-"));
    try {
      let paths = 0;
      for (const _ of walkLazily(root, compileExcludes([])) ?? []) paths++;
      expect(paths).toBe(5001);
    } finally {
      process.env.PATH = path;
    }
  });
});
