import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { createBackup, rollpoint } from "../../helpers/cli.js";
import { isRoot, rsyncDifferences, tempDir } from "../../helpers/tree.js";

/** Every regular file under `root`, in a stable order. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) out.push(path);
    }
  };
  walk(root);
  return out;
}

describe("a real tree, judged by rsync", () => {
  it.runIf(isRoot)(
    "a copy of this machine's /etc and /usr/share/doc, damaged in every way, comes back byte- and attribute-exact",
    async () => {
      const dir = await tempDir();
      const live = join(dir, "live");
      const pristine = join(dir, "pristine");
      await execa("mkdir", [live, pristine]);
      // The host is copied once and the copy copied: a test running beside this one may add a
      // user to /etc/passwd between two copies of the host's own.
      for (const source of ["/etc", "/usr/share/doc"]) {
        const name = source.replaceAll("/", "_");
        await execa("cp", ["-a", source, join(pristine, name)]);
        await execa("cp", ["-a", join(pristine, name), join(live, name)]);
      }
      // The two roots were made a moment apart: only their own mtimes differ, and not by damage.
      await execa("touch", ["-r", live, pristine]);
      const store = join(dir, "store");
      const backupId = await createBackup(store, live);

      // The damage, spread over the tree: contents, modes, owners, mtimes, deletions, additions,
      // xattrs and ACLs, a symlink repointed, a directory removed.
      const files = filesUnder(live);
      const pick = (n: number, offset: number) =>
        Array.from({ length: n }, (_, i) => files[(offset + i * 97) % files.length]!);
      for (const f of pick(20, 1)) appendFileSync(f, randomBytes(16));
      for (const f of pick(10, 2)) chmodSync(f, 0o600);
      for (const f of pick(10, 3)) chownSync(f, 4321, 4321);
      for (const f of pick(10, 4)) utimesSync(f, 1e9, 1e9);
      for (const f of pick(10, 5)) rmSync(f, { force: true });
      for (const f of pick(5, 6)) await execa("setfattr", ["-n", "user.rollpoint", "-v", "x", f]);
      for (const f of pick(5, 7)) await execa("setfacl", ["-m", "u:4321:r", f]);
      writeFileSync(join(live, "_etc", "added-by-update.conf"), "new\n");
      rmSync(join(live, "_etc", "apt"), { recursive: true, force: true });
      rmSync(join(live, "_etc", "localtime"), { force: true });
      await execa("ln", ["-s", "/nowhere", join(live, "_etc", "localtime")]);
      const itemized = await rsyncDifferences(pristine, live);
      expect(itemized.split("\n").length).toBeGreaterThan(50);

      const restored = await rollpoint([
        "--store",
        store,
        "--json",
        "backups",
        "restore",
        backupId,
      ]);
      expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
      expect(JSON.parse(restored.stdout).operations[0].outcome).toBe("restored");

      const after = await rsyncDifferences(pristine, live);
      expect(after).toBe("");
      // And the directories' own times, to the microsecond (docs/decisions.md, "mtimes").
      const micros = (path: string) => statSync(path, { bigint: true }).mtimeNs / 1000n;
      for (const sub of ["_etc", "_usr_share_doc", "_etc/ssl"]) {
        expect(micros(join(live, sub))).toBe(micros(join(pristine, sub)));
      }
    },
  );
});
