import { createHash } from "node:crypto";
import { closeSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";

const CHUNK = 1 << 20;

/** SHA-256 of a file's contents, read in chunks so memory stays flat for any size. */
export async function hashFile(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const hasher = createHash("sha256");
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hasher.update(buffer.subarray(0, bytesRead));
    }
    return hasher.digest("hex");
  } finally {
    await handle.close();
  }
}

const small = Buffer.allocUnsafe(CHUNK);

/** The same, synchronously: for small files, where a promise per read costs more than the read. */
export function hashFileSync(path: string): string {
  const fd = openSync(path, "r");
  try {
    const hasher = createHash("sha256");
    for (;;) {
      const bytesRead = readSync(fd, small, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hasher.update(small.subarray(0, bytesRead));
    }
    return hasher.digest("hex");
  } finally {
    closeSync(fd);
  }
}
