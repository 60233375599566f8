import { execWithPaths, runSystemCommand } from "../../util/system-command.js";
import { nameFromBytes } from "./names.js";
import type { Name, PinnedTree } from "./pinned.js";

/**
 * The inode flags a restore must work around and put back: `i` (immutable: no write, rename,
 * unlink or chmod, even by root) and `a` (append only). Read with e2fsprogs' lsattr and set with
 * chattr, many paths per process (Node has no FS_IOC_GETFLAGS; a native addon would be a build
 * step on every host for what two standard tools do). Only regular files and directories carry
 * them here: lsattr would open a fifo or a device to ask.
 */
export type Flags = string;

const KEPT = ["i", "a"] as const;

/**
 * The flags (`"i"`, `"a"`, `"ia"`) of each of `rels` that has any; paths without are absent.
 * Each is named through its open parent directory (see PinnedTree.inBatches); lsattr and chattr
 * themselves open the last component without following it (O_NOFOLLOW) and only if it is a file
 * or a directory.
 */
export async function readFlags(
  tree: PinnedTree,
  rels: readonly string[],
): Promise<Map<string, Flags>> {
  const out = new Map<string, Flags>();
  await tree.inBatches(rels, async (paths, relOf) => {
    const found = await readBatch(paths);
    for (const [path, flags] of found) out.set(relOf.get(path)!, flags);
  });
  return out;
}

async function readBatch(paths: readonly Name[]): Promise<Array<[string, Flags]>> {
  let stdout: string;
  try {
    stdout = nameFromBytes((await execWithPaths("lsattr", ["-d", "--"], paths)).stdout);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: Buffer };
    // lsattr missing: nothing to lift, and nothing recorded (the backup warns).
    if (failure.code === "ENOENT") throw new FlagsUnavailable();
    // A file system without flags (tmpfs), or a path gone: the others are still listed.
    stdout = failure.stdout ? nameFromBytes(failure.stdout) : "";
  }
  const batch = paths.map((p) => (typeof p === "string" ? p : nameFromBytes(p)));
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

/** `chattr -i -a` on each of `rels`: before a restore changes them. */
export async function liftFlags(tree: PinnedTree, rels: readonly string[]): Promise<void> {
  await tree.inBatches(rels, (paths) => runSystemCommand("chattr", ["-i", "-a", "--"], paths));
}

/** Set each path's kept flags to exactly what `wanted` says (absent: none). */
export async function putFlags(
  tree: PinnedTree,
  wanted: ReadonlyMap<string, Flags>,
): Promise<void> {
  const byFlags = new Map<Flags, string[]>();
  for (const [rel, flags] of wanted) byFlags.set(flags, [...(byFlags.get(flags) ?? []), rel]);
  for (const [flags, rels] of byFlags) {
    const args = KEPT.map((f) => `${flags.includes(f) ? "+" : "-"}${f}`);
    await tree.inBatches(rels, (paths) => runSystemCommand("chattr", [...args, "--"], paths));
  }
}
