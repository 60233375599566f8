import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hashFile, hashFileSync } from "../../src/store/hash.js";
import { tempDir } from "../helpers/tree.js";

const put = (file: string, at: number, bytes: string) =>
  execFileSync("dd", [`of=${file}`, "bs=1", `seek=${at}`, "conv=notrunc", "status=none"], {
    input: bytes,
  });

describe("the sparse digest", () => {
  it("names the contents, not the layout: a file with holes and its dense copy digest alike; one byte differs, the digest does", async () => {
    const dir = await tempDir();
    const holey = join(dir, "holey.img");
    execFileSync("truncate", ["-s", "9000001", holey]);
    // Unaligned data across a block boundary, and a last block that is not whole.
    put(holey, 4093, "across");
    put(holey, 8_999_999, "zz");
    const dense = join(dir, "dense.img");
    execFileSync("cp", ["--sparse=never", holey, dense]);
    const other = join(dir, "other.img");
    execFileSync("cp", ["--sparse=always", holey, other]);
    put(other, 4094, "X");

    const sparse = hashFileSync(holey, "sparse");
    expect(hashFileSync(dense, "sparse")).toBe(sparse);
    expect(await hashFile(holey, "sparse")).toBe(sparse);
    expect(hashFileSync(other, "sparse")).not.toBe(sparse);
    // Not SHA-256 of the bytes (a store object is named by one or the other, never both).
    const plain = execFileSync("sha256sum", [dense], { encoding: "utf8" }).split(" ")[0];
    expect(hashFileSync(holey)).toBe(plain);
    expect(sparse).not.toBe(plain);

    // Only the size tells trailing zeros apart.
    const shorter = join(dir, "shorter.img");
    execFileSync("cp", ["--sparse=always", holey, shorter]);
    execFileSync("truncate", ["-s", "9000002", shorter]);
    expect(hashFileSync(shorter, "sparse")).not.toBe(sparse);
    const empty = join(dir, "empty");
    writeFileSync(empty, "");
    expect(hashFileSync(empty, "sparse")).not.toBe(hashFileSync(join(dir, "empty"), "plain"));
  });
});
