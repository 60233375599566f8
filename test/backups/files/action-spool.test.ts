import { existsSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ActionSpool } from "../../../src/backups/files/action-spool.js";
import type { RestoreAction } from "../../../src/backups/files/restore-plan.js";
import type { Entry } from "../../../src/store/entry.js";
import { tempDir } from "../../helpers/tree.js";

const entry = (i: number): Entry => ({
  rel: `d${i % 7}/f\udcff${i}`,
  kind: i % 3 === 0 ? "dir" : "file",
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  size: i,
  mtimeNs: 1700000000123456789n + BigInt(i),
  ctimeNs: 5n,
  ino: 18446744073709551615n - BigInt(i),
  dev: 2049n,
  rdev: 0,
  hash: i % 3 === 0 ? null : "ab".repeat(32),
  target: null,
  ...(i % 5 === 0 ? { xattrs: { "user.x": "0sAQ==" }, flags: "i" } : {}),
});

describe("a restore's spooled actions", () => {
  it("come back in order and whole past what memory keeps, and the file goes at close", async () => {
    const dir = await tempDir();
    const spool = new ActionSpool(dir);
    const actions: RestoreAction[] = [];
    for (let i = 0; i < 25_000; i++) {
      const e = entry(i);
      const live = { dev: 2049n, ino: BigInt(i) };
      const all: RestoreAction[] = [
        { op: "remove", rel: e.rel },
        { op: "write", entry: e },
        { op: "metadata", entry: e, live },
        { op: "leave", entry: e, live },
        { op: "leave", entry: e },
        { op: "attributes", entry: e },
        { op: "flags", rel: e.rel, have: "", want: "ia" },
      ];
      actions.push(all[i % all.length]!);
    }
    for (const action of actions) spool.push(action);
    expect(readdirSync(dir)).toHaveLength(1);
    expect([...spool]).toEqual(actions);
    // Read twice (the apply may be retried by the same process): the same again.
    expect([...spool].length).toBe(25_000);
    const [file] = readdirSync(dir);
    spool.close();
    expect(existsSync(`${dir}/${file}`)).toBe(false);
  });
});
