import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { runSystemCommand } from "../util/system-command.js";

/** A name beside `path` that nobody else will pick, for write-then-rename. */
export function tempNameBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.rollpoint-${randomBytes(6).toString("hex")}.tmp`);
}

/** Write a small file so that a reader sees either the old or the new contents, never a mix. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600) {
  const temp = tempNameBeside(path);
  try {
    const handle = await open(temp, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** Make a rename or a new name in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// One syncfs(2) per file system is what `cp -a && sync` pays; an fsync per file costs that many
// journal commits. Node has no syncfs binding, and coreutils' `sync -f` is exactly that call.
export async function syncFileSystems(paths: Iterable<string>): Promise<void> {
  const unique = [...new Set(paths)];
  if (unique.length === 0) return;
  await runSystemCommand("sync", ["-f", ...unique]);
}
