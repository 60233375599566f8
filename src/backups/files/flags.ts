import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { forEachLimited } from "../../util/pool.js";
import { runSystemCommand } from "../../util/system-command.js";

const execFileAsync = promisify(execFile);

/**
 * The inode flags a restore must work around and put back: `i` (immutable: no write, rename,
 * unlink or chmod, even by root) and `a` (append only). Read with e2fsprogs' lsattr and set with
 * chattr, many paths per process (Node has no FS_IOC_GETFLAGS; a native addon would be a build
 * step on every host for what two standard tools do). Only regular files and directories carry
 * them here: lsattr would open a fifo or a device to ask.
 */
export type Flags = string;

const KEPT = ["i", "a"] as const;
// Arguments per process: far below the kernel's limit, few processes for a large tree.
const BATCH_BYTES = 128 * 1024;

/** The flags (`"i"`, `"a"`, `"ia"`) of each path that has any; paths without none are absent. */
export async function readFlags(paths: readonly string[]): Promise<Map<string, Flags>> {
  const out = new Map<string, Flags>();
  // Two lsattr at once: on two cores, a 20,000-file tree takes half as long.
  await forEachLimited([...batches(paths)], 2, async (batch) => {
    for (const [path, flags] of await readBatch(batch)) out.set(path, flags);
  });
  return out;
}

async function readBatch(batch: readonly string[]): Promise<Array<[string, Flags]>> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync("lsattr", ["-d", "--", ...batch], {
      maxBuffer: 64 * 2 ** 20,
      encoding: "utf8",
    }));
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string };
    // lsattr missing: nothing to lift, and nothing recorded (the backup warns).
    if (failure.code === "ENOENT") throw new FlagsUnavailable();
    // A file system without flags (tmpfs), or a path gone: the others are still listed.
    stdout = failure.stdout ?? "";
  }
  // One "FLAGS PATH\n" per path that could be read, in the order asked; a name may hold a
  // newline, so each record is matched against the path it must end with.
  const out: Array<[string, Flags]> = [];
  let at = 0;
  for (const path of batch) {
    const space = stdout.indexOf(" ", at);
    if (space < 0) break;
    const record = stdout.slice(space + 1, space + 1 + path.length);
    if (record !== path || stdout[space + 1 + path.length] !== "\n") continue;
    const flags = KEPT.filter((f) => stdout.slice(at, space).includes(f)).join("");
    if (flags) out.push([path, flags]);
    at = space + path.length + 2;
  }
  return out;
}

/** lsattr is not installed: flags cannot be read (Debian package e2fsprogs). */
export class FlagsUnavailable extends Error {
  constructor() {
    super(
      "immutable and append-only flags were not recorded: lsattr is not installed (Debian package e2fsprogs)",
    );
  }
}

/** `chattr -i -a` on every path: before a restore changes them. */
export async function liftFlags(paths: readonly string[]): Promise<void> {
  for (const batch of batches(paths))
    await runSystemCommand("chattr", ["-i", "-a", "--", ...batch]);
}

/** Set each path's kept flags to exactly what `wanted` says (absent: none). */
export async function putFlags(wanted: ReadonlyMap<string, Flags>): Promise<void> {
  const byFlags = new Map<Flags, string[]>();
  for (const [path, flags] of wanted) byFlags.set(flags, [...(byFlags.get(flags) ?? []), path]);
  for (const [flags, paths] of byFlags) {
    const args = KEPT.map((f) => `${flags.includes(f) ? "+" : "-"}${f}`);
    for (const batch of batches(paths)) await runSystemCommand("chattr", [...args, "--", ...batch]);
  }
}

function* batches(paths: readonly string[]): Generator<string[]> {
  let batch: string[] = [];
  let bytes = 0;
  for (const path of paths) {
    if (batch.length && bytes + path.length > BATCH_BYTES) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(path);
    bytes += path.length + 1;
  }
  if (batch.length) yield batch;
}
