import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach } from "vitest";
import { liftImmutable } from "./chattr.js";

/** How a test describes one path of a tree. */
export type Spec =
  | string
  | Buffer
  | { content: string | Buffer; mode?: number; uid?: number; gid?: number }
  | { symlink: string }
  | { dir: true; mode?: number };

/** Build a real tree under `root` from `{ "a/b.txt": "content", "c": { symlink: "b" } }`. */
export function makeTree(root: string, spec: Record<string, Spec>): void {
  mkdirSync(root, { recursive: true });
  for (const [rel, item] of Object.entries(spec)) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof item === "string" || Buffer.isBuffer(item)) {
      writeFileSync(path, item);
    } else if ("symlink" in item) {
      symlinkSync(item.symlink, path);
    } else if ("dir" in item) {
      mkdirSync(path, { recursive: true });
      if (item.mode !== undefined) chmodSync(path, item.mode);
    } else {
      writeFileSync(path, item.content);
      if (item.uid !== undefined) chownSync(path, item.uid, item.gid ?? item.uid);
      if (item.mode !== undefined) chmodSync(path, item.mode);
    }
  }
}

/** What a user would compare after a restore: every path's type, mode, owner, mtime and bytes. */
export interface PathState {
  path: string;
  type: string;
  mode: string;
  owner: string;
  mtimeUs: string;
  content?: string;
  target?: string;
}

/** A listing of `root` taken with lstat (links not followed), sorted by path. */
export function treeState(root: string): PathState[] {
  const out: PathState[] = [];
  const visit = (rel: string) => {
    const path = rel === "" ? root : join(root, rel);
    const st = lstatSync(path, { bigint: true });
    const type = st.isFile()
      ? "file"
      : st.isDirectory()
        ? "dir"
        : st.isSymbolicLink()
          ? "symlink"
          : st.isFIFO()
            ? "fifo"
            : "other";
    const state: PathState = {
      path: rel || ".",
      type,
      mode: (st.mode & 0o7777n).toString(8),
      owner: `${st.uid}:${st.gid}`,
      mtimeUs: (st.mtimeNs / 1000n).toString(),
    };
    if (type === "file")
      state.content = createHash("sha256").update(readFileSync(path)).digest("hex");
    if (type === "symlink") state.target = readlinkSync(path);
    out.push(state);
    if (type === "dir") {
      for (const name of readdirSync(path).sort()) visit(rel === "" ? name : `${rel}/${name}`);
    }
  };
  visit("");
  return out;
}

const made: string[] = [];

/**
 * A fresh temporary directory, removed after the test; under `base` when given (the directory
 * the test container shares, for trees its units read).
 */
export async function tempDir(prefix = "rollpoint-test-", base = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(base, prefix));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  liftImmutable();
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

export const isRoot = process.getuid?.() === 0;

/**
 * The oracle for file fidelity is someone else's tool: what `rsync -aHAXS --checksum` would
 * change to make `live` equal `pristine` (contents, modes, owners, links, hard links, ACLs,
 * xattrs, holes, extra paths), one itemized line each; "" when they are the same.
 */
export async function rsyncDifferences(pristine: string, live: string): Promise<string> {
  const { execa } = await import("execa");
  const result = await execa("rsync", [
    "-aHAXSn",
    "--checksum",
    "--delete",
    "--itemize-changes",
    `${pristine}/`,
    `${live}/`,
  ]);
  return result.stdout;
}
