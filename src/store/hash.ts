import { createHash } from "node:crypto";
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
