import { execFile } from "node:child_process";
import { execWithPaths, runSystemCommand } from "../../util/system-command.js";
import { bytesOfName, nameFromBytes } from "./names.js";
import type { Name, PinnedTree } from "./pinned.js";

/** Name to value, as getfattr prints it with `-e base64` (`0s<base64>`). */
export type Xattrs = Record<string, string>;

/** What a tree's extended attributes are, by path relative to its root. */
export interface TreeXattrs {
  byRel: Map<string, Xattrs>;
  /** Why they could not be read at all (getfattr missing), for the backup's warnings. */
  unavailable?: string;
}

// Extended attributes (user, trusted, security: capabilities and SELinux labels) and POSIX ACLs
// (the system.posix_acl_* attributes) go through the attr package's getfattr and setfattr, a
// batch of paths per process, not a process per file: Node has no xattr calls, and a native addon
// is a build step on every host for what two well-known tools do. Each path is named through its
// open parent directory (PinnedTree.inBatches), so a directory swapped for a link never leads
// them elsewhere; -h reads and sets a link's own attributes, `-m -` takes every namespace, base64
// keeps binary values exact.
const GETFATTR = ["-h", "-d", "-m", "-", "-e", "base64", "--absolute-names"];

/**
 * The extended attributes of the paths `rels` of `tree` (none at all when it is empty).
 * Setting an attribute moves a path's ctime, so a path whose stat identity is unchanged since a
 * listing has the attributes the listing recorded: callers read only the others.
 */
export async function readXattrs(tree: PinnedTree, rels: readonly string[]): Promise<TreeXattrs> {
  const out: TreeXattrs = { byRel: new Map() };
  await tree.inBatches(rels, async (paths, relOf) => {
    const part = parseGetfattr(relOf, await runGetfattr(paths));
    for (const [rel, xattrs] of part.byRel) out.byRel.set(rel, xattrs);
    if (part.unavailable) out.unavailable = part.unavailable;
  });
  return out;
}

/** getfattr's output, or why there is none (`unavailable`: not installed). */
async function runGetfattr(paths: readonly Name[]): Promise<string | { unavailable: string }> {
  try {
    return nameFromBytes((await execWithPaths("getfattr", [...GETFATTR, "--"], paths)).stdout);
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: Buffer; code?: unknown };
    if (failure.code === "ENOENT") {
      return {
        unavailable:
          "extended attributes, POSIX ACLs and file capabilities were not recorded: getfattr is not installed (Debian package attr)",
      };
    }
    // Exit 1 with output: some path could not be read (it vanished, or permission); the rest is
    // good. Paths not listed have no attributes we can see.
    return failure.stdout ? nameFromBytes(failure.stdout) : "";
  }
}

function parseGetfattr(
  relOf: ReadonlyMap<string, string>,
  stdout: string | { unavailable: string },
): TreeXattrs {
  if (typeof stdout !== "string") return { byRel: new Map(), unavailable: stdout.unavailable };
  const byRel = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      const rel = relOf.get(unescapeName(line.slice(8)));
      current = {};
      if (rel !== undefined) byRel.set(rel, current);
    } else if (current && line !== "") {
      const eq = line.indexOf("=");
      if (eq > 0) current[line.slice(0, eq)] = line.slice(eq + 1);
      else current[line] = "";
    }
  }
  return { byRel };
}

/** One path's attributes to put back: `set` every name in it, `remove` the others listed. */
export interface XattrChange {
  rel: string;
  set: Xattrs;
  remove: string[];
}

/**
 * Put attributes back: every value in one `setfattr --restore` run (its input is getfattr's own
 * format); names the backup did not have are removed one `setfattr -x` each (rare: something the
 * update added). Symlinks' own attributes, never their targets'.
 */
export async function writeXattrs(
  tree: PinnedTree,
  changes: readonly XattrChange[],
): Promise<void> {
  const byRel = new Map(changes.map((c) => [c.rel, c]));
  await tree.inBatches([...byRel.keys()], async (paths, relOf) => {
    const dump = paths
      .flatMap((path) => {
        const { set } = byRel.get(relOf.get(textOf(path))!)!;
        if (!Object.keys(set).length) return [];
        const values = Object.entries(set).map(([name, value]) => `${escapeName(name)}=${value}`);
        return [`# file: ${escapeName(textOf(path))}\n${values.join("\n")}\n`];
      })
      .join("\n");
    if (dump) await runSetfattr(["-h", "--restore=-"], `${dump}\n`);
    for (const path of paths)
      for (const name of byRel.get(relOf.get(textOf(path))!)!.remove)
        await runSetfattr(["-h", "-x", name, "--"], undefined, [path]);
  });
}

async function runSetfattr(args: string[], input?: string, paths: Name[] = []): Promise<void> {
  if (paths.length) {
    await runSystemCommand("setfattr", args, paths);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const child = execFile("setfattr", args, (error, _out, stderr) =>
      error
        ? reject(new Error(`setfattr ${args.join(" ")}: ${stderr.trim() || error.message}`))
        : resolve(),
    );
    // setfattr may exit before it reads (`-x`, or an error): a write to its closed stdin is
    // EPIPE, which unhandled would kill this process. Its exit status is what counts.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input ?? "");
  });
}

/** The attributes that differ: what to set (missing or other values) and what to remove. */
export function xattrChange(rel: string, wanted: Xattrs | undefined, live: Xattrs | undefined) {
  const want = wanted ?? {};
  const have = live ?? {};
  const set = Object.fromEntries(Object.entries(want).filter(([n, v]) => have[n] !== v));
  const remove = Object.keys(have).filter((n) => !(n in want));
  return Object.keys(set).length || remove.length ? { rel, set, remove } : undefined;
}

// getfattr writes names with control characters, backslashes, bytes beyond ASCII and the like as
// \ooo (octal); setfattr --restore reads them back the same way.
function unescapeName(text: string): string {
  const bytes: Buffer[] = [];
  let start = 0;
  for (const match of text.matchAll(/\\([0-7]{3})/g)) {
    bytes.push(bytesOfName(text.slice(start, match.index)));
    bytes.push(Buffer.from([Number.parseInt(match[1]!, 8)]));
    start = match.index! + 4;
  }
  bytes.push(bytesOfName(text.slice(start)));
  return nameFromBytes(Buffer.concat(bytes));
}

function escapeName(text: string): string {
  let out = "";
  for (const byte of bytesOfName(text)) {
    out +=
      byte <= 0x20 || byte >= 0x7f || byte === 0x5c || byte === 0x3d
        ? `\\${byte.toString(8).padStart(3, "0")}`
        : String.fromCharCode(byte);
  }
  return out;
}

function textOf(path: Name): string {
  return typeof path === "string" ? path : nameFromBytes(path);
}
