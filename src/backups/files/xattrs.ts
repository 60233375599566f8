import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { PinnedTree } from "./pinned.js";

const execFileAsync = promisify(execFile);

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
const MAX_OUTPUT = 1024 * 2 ** 20;

/**
 * The extended attributes of the paths `rels` of `tree` (none at all when it is empty).
 * Setting an attribute moves a path's ctime, so a path whose stat identity is unchanged since a
 * listing has the attributes the listing recorded: callers read only the others.
 */
export async function readXattrs(tree: PinnedTree, rels: readonly string[]): Promise<TreeXattrs> {
  const out: TreeXattrs = { byRel: new Map() };
  await tree.inBatches(rels, async (paths, relOf) => {
    const part = parseGetfattr(relOf, await runGetfattr(["--", ...paths]));
    for (const [rel, xattrs] of part.byRel) out.byRel.set(rel, xattrs);
    if (part.unavailable) out.unavailable = part.unavailable;
  });
  return out;
}

/** getfattr's output, or why there is none (`unavailable`: not installed). */
async function runGetfattr(args: string[]): Promise<string | { unavailable: string }> {
  try {
    return (
      await execFileAsync("getfattr", [...GETFATTR, ...args], {
        maxBuffer: MAX_OUTPUT,
        encoding: "utf8",
      })
    ).stdout;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stdout?: string; code?: unknown };
    if (failure.code === "ENOENT") {
      return {
        unavailable:
          "extended attributes, POSIX ACLs and file capabilities were not recorded: getfattr is not installed (Debian package attr)",
      };
    }
    // Exit 1 with output: some path could not be read (it vanished, or permission); the rest is
    // good. Paths not listed have no attributes we can see.
    return failure.stdout ?? "";
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
        const { set } = byRel.get(relOf.get(path)!)!;
        if (!Object.keys(set).length) return [];
        const values = Object.entries(set).map(([name, value]) => `${escapeName(name)}=${value}`);
        return [`# file: ${escapeName(path)}\n${values.join("\n")}\n`];
      })
      .join("\n");
    if (dump) await runSetfattr(["-h", "--restore=-"], `${dump}\n`);
    for (const path of paths)
      for (const name of byRel.get(relOf.get(path)!)!.remove)
        await runSetfattr(["-h", "-x", name, "--", path]);
  });
}

async function runSetfattr(args: string[], input?: string): Promise<void> {
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

// getfattr writes names with control characters, backslashes and the like as \ooo (octal);
// setfattr --restore reads them back the same way.
function unescapeName(text: string): string {
  // Escapes stand for bytes (a UTF-8 name may come as \303\251): decode bytes, then UTF-8.
  const bytes: number[] = [];
  for (let i = 0; i < text.length; ) {
    const octal = /^\\([0-7]{3})/.exec(text.slice(i, i + 4));
    if (octal) {
      bytes.push(Number.parseInt(octal[1]!, 8));
      i += 4;
    } else {
      const char = String.fromCodePoint(text.codePointAt(i)!);
      bytes.push(...Buffer.from(char, "utf8"));
      i += char.length;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

function escapeName(text: string): string {
  return text.replace(
    /[\\\x00-\x20\x7f=]/g,
    (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`,
  );
}
