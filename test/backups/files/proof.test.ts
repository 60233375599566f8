import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { snapshotTree } from "../../../src/backups/files/backup.js";
import { differencesAfterRestore } from "../../../src/backups/files/restore-proof.js";
import { decodeListing } from "../../../src/store/listing-codec.js";
import { Store } from "../../../src/store/store.js";
import { liftImmutableAfterTest } from "../../helpers/chattr.js";
import { rollpoint } from "../../helpers/cli.js";
import { isRoot, makeTree, tempDir } from "../../helpers/tree.js";
import { appUpdate } from "../../helpers/update.js";

describe("a restore proves itself", () => {
  it("the read-back names every path that differs from the listing, and what differs", async () => {
    const dir = await tempDir();
    const root = join(dir, "app");
    makeTree(root, {
      "a.conf": "a\n",
      "b.conf": { content: "b\n", mode: 0o600 },
      "c.conf": "c\n",
      link: { symlink: "a.conf" },
      "sub/d.txt": "d\n",
    });
    const store = await Store.open(join(dir, "store"));
    const entries = decodeListing(
      (await snapshotTree(store.objects, root, [], undefined)).listing.data,
    );
    store.close();
    const listing = { entries: () => entries, takenAtMs: Date.now() - 10_000 };
    expect((await differencesAfterRestore(root, listing, [])).lines).toEqual([]);

    writeFileSync(join(root, "a.conf"), "changed\n");
    chmodSync(join(root, "b.conf"), 0o644);
    unlinkSync(join(root, "c.conf"));
    unlinkSync(join(root, "link"));
    symlinkSync("b.conf", join(root, "link"));
    utimesSync(join(root, "sub/d.txt"), new Date("2001-01-01"), new Date("2001-01-01"));
    mkdirSync(join(root, "new"));
    const differences = (await differencesAfterRestore(root, listing, [])).lines;
    expect(differences).toEqual(
      expect.arrayContaining([
        `${root}/new: exists, but did not at backup time`,
        `${root}/a.conf: contents differ`,
        `${root}/b.conf: mode 0644, expected 0600`,
        `${root}/c.conf: missing (a file at backup time)`,
        `${root}/link: link target differs`,
        expect.stringMatching(
          new RegExp(`^${root}/sub/d.txt: mtime 2001-01-01T00:00:00.000Z, expected `),
        ),
        // Adding and removing entries moved the directory's own mtime.
        expect.stringMatching(new RegExp(`^${root}: mtime `)),
      ]),
    );
    expect(differences).toHaveLength(7);
  });

  it.runIf(isRoot)(
    "a path the restore cannot make right (a read-only mount over it): exit 2, named, never 'everything is as it was'",
    async () => {
      const { app, manifest, store } = await appUpdate(
        { "etc/a.conf": "a=1\n", "etc/b.conf": "b=1\n" },
        (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/etc/a.conf && mount --bind ${app}/etc ${app}/etc && mount -o remount,bind,ro ${app}/etc
  - id: fail
    run: ["false"]
`,
      );
      try {
        const run = await rollpoint(["--store", store, "run", manifest]);
        expect(run.exitCode).toBe(2);
        expect(run.stdout).toContain(`EROFS: read-only file system`);
        expect(run.stdout).toContain(`${app}/etc/`);
        expect(run.stdout).toContain("ROLLBACK INCOMPLETE");
        expect(run.stdout).not.toContain("as it was before the update");
      } finally {
        spawnSync("umount", [join(app, "etc")]);
      }
    },
  );

  it.runIf(isRoot)(
    "immutable and append-only flags: lifted where the update changed things, put back as they were, and read back",
    async () => {
      const lsattr = (paths: string[]) =>
        spawnSync("lsattr", ["-d", ...paths], { encoding: "utf8" })
          .stdout.split("\n")
          .filter(Boolean)
          .map(
            (line) =>
              `${/i/.test(line.split(" ")[0]!) ? "i" : "-"}${/a/.test(line.split(" ")[0]!) ? "a" : "-"} ${line.slice(line.indexOf(" ") + 1)}`,
          );
      const { app, manifest, store } = await appUpdate(
        {
          "etc/locked.conf": "locked=1\n",
          "etc/a.conf": "a=1\n",
          "logs/app.log": "line 1\n",
          "secure/key": "k1\n",
        },
        (app) => `steps:
  - id: edit
    shell: |
      chattr -i ${app}/etc/locked.conf ${app}/secure
      echo locked=2 > ${app}/etc/locked.conf
      echo line 2 >> ${app}/logs/app.log
      rm ${app}/secure/key
      echo new > ${app}/etc/new.conf
      chattr +i ${app}/etc/new.conf ${app}/etc/a.conf
  - id: fail
    run: ["false"]
`,
      );
      for (const path of ["etc/locked.conf", "secure", "etc/a.conf", "etc/new.conf"]) {
        liftImmutableAfterTest(join(app, path));
      }
      execFileSync("chattr", ["+i", join(app, "etc/locked.conf"), join(app, "secure")]);
      execFileSync("chattr", ["+a", join(app, "logs/app.log")]);
      liftImmutableAfterTest(join(app, "logs/app.log"));
      const paths = ["etc/locked.conf", "etc/a.conf", "logs/app.log", "secure", "secure/key"].map(
        (p) => join(app, p),
      );
      const flagsBefore = lsattr(paths);
      expect(flagsBefore.map((l) => l.slice(0, 2))).toEqual(["i-", "--", "-a", "i-", "--"]);

      const run = await rollpoint(["--store", store, "--json", "run", manifest]);
      expect(run.exitCode, run.stdout + run.stderr).toBe(1);
      expect(JSON.parse(run.stdout).outcome).toBe("rolledBack");
      expect(lsattr(paths)).toEqual(flagsBefore);
      expect(readFileSync(join(app, "etc/locked.conf"), "utf8")).toBe("locked=1\n");
      expect(readFileSync(join(app, "logs/app.log"), "utf8")).toBe("line 1\n");
      expect(readFileSync(join(app, "secure/key"), "utf8")).toBe("k1\n");
      expect(existsSync(join(app, "etc/new.conf"))).toBe(false);
    },
  );
});
