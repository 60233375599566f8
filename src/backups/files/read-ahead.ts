import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The walk is synchronous (walk.ts says why), so on a cold cache each directory block and inode
// block it needs is a disk wait during which its own CPU work does not go on. A process walking
// the same tree in the same order a little ahead, reading and discarding, turns those waits into
// cache hits: a read-ahead for metadata. GNU ls does that walk: `-R` in byte order (LC_ALL=C,
// the walk's order), `-s` makes it lstat every name. It is a process rather than a thread of
// ours: a thread is an isolate of its own, 5 MB of a repeat backup's peak, and ls is 2 MB outside
// it. What it reads is thrown away, so it goes by path (a swapped parent only makes it warm the
// wrong inodes), ignores excludes, and anything wrong with it (no GNU ls, a directory too large
// for its memory cap) just ends it, never the walk.

/** How far ahead of the walk, in paths, the read-ahead may go (what it puts in the cache). */
const AHEAD = 20_000;

/** A read-ahead of `root`'s metadata; tell it how far the walk is, stop it when the walk ends. */
export class MetadataReadAhead {
  private readonly child: ChildProcess | undefined;
  private fd: number | undefined;
  /** Lines ls has written (a name each, and three a directory): how far it is. */
  private lines = 0;
  private readonly buffer = Buffer.allocUnsafe(1 << 16);

  constructor(root: string) {
    // ls writes into a FIFO this process reads without blocking, and only as the walk goes on:
    // once the pipe is full, ls waits. The FIFO's directory is private and gone at once.
    const dir = mkdtempSync(join(tmpdir(), "rollpoint-ahead-"));
    try {
      const fifo = join(dir, "ls");
      if (spawnSync("mkfifo", ["-m", "600", fifo]).status !== 0) return;
      this.fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const out = openSync(fifo, constants.O_WRONLY);
      try {
        this.child = spawn(
          "sh",
          // 64 MB of address space: a directory of a million names ends ls, not the machine.
          [
            "-c",
            'ulimit -v 65536 && exec ls -Rs1 --quoting-style=literal --color=never -- "$1"',
            "sh",
            root,
          ],
          { stdio: ["ignore", out, "ignore"], env: { ...process.env, LC_ALL: "C" } },
        );
        this.child.on("error", () => {});
        this.child.unref();
      } finally {
        closeSync(out);
      }
    } catch {
      this.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The walk has passed `paths` paths: let ls go on to AHEAD past them. */
  walked(paths: number): void {
    if (this.fd === undefined) return;
    while (this.lines < paths + AHEAD) {
      let got: number;
      try {
        got = readSync(this.fd, this.buffer);
      } catch {
        return; // EAGAIN: nothing written since; ls is at work or waiting on the disk.
      }
      if (got === 0) {
        this.stop(); // ls has finished (or failed)
        return;
      }
      const read = this.buffer.subarray(0, got);
      for (let at = read.indexOf(10); at !== -1; at = read.indexOf(10, at + 1)) this.lines++;
    }
  }

  stop(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    // Its next write meets a closed pipe (SIGPIPE); the kill is for one waiting on the disk.
    this.child?.kill("SIGKILL");
  }
}
