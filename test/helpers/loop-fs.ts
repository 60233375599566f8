import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach } from "vitest";
import { tempDir } from "./tree.js";

const mounted: string[] = [];
afterEach(() => {
  for (const mnt of mounted.splice(0)) execFileSync("umount", [mnt]);
});

const MKFS = {
  // Journaled: the default of mkfs.ext4.
  ext4: ["mkfs.ext4", "-q", "-F"],
  // Copy-on-write, with reflinks.
  btrfs: ["mkfs.btrfs", "-q", "-f"],
} as const;

/** A file system of its own, in an image file loop-mounted for one test (root only). */
export async function loopFileSystem(type: keyof typeof MKFS, megabytes: number): Promise<string> {
  const dir = await tempDir();
  const image = join(dir, `${type}.img`);
  const mnt = join(dir, "mnt");
  mkdirSync(mnt);
  execFileSync("truncate", ["-s", `${megabytes}M`, image]);
  const [mkfs, ...args] = MKFS[type];
  execFileSync(mkfs, [...args, image]);
  execFileSync("mount", ["-o", "loop", image, mnt]);
  mounted.push(mnt);
  return mnt;
}
