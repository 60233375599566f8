import { chmodSync, mkdirSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { snapshotTree } from "../../../src/backups/files/backup.js";
import { differencesAfterRestore } from "../../../src/backups/files/restore-proof.js";
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
    const { entries } = await snapshotTree(store.objects, root, [], undefined);
    store.close();
    const listing = { entries, takenAtMs: Date.now() - 10_000 };
    expect(await differencesAfterRestore(root, listing, [])).toEqual([]);

    writeFileSync(join(root, "a.conf"), "changed\n");
    chmodSync(join(root, "b.conf"), 0o644);
    unlinkSync(join(root, "c.conf"));
    unlinkSync(join(root, "link"));
    symlinkSync("b.conf", join(root, "link"));
    utimesSync(join(root, "sub/d.txt"), new Date("2001-01-01"), new Date("2001-01-01"));
    mkdirSync(join(root, "new"));
    const differences = await differencesAfterRestore(root, listing, []);
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
    "a path the restore cannot make right (an immutable file): exit 2, named, never 'everything is as it was'",
    async () => {
      const { app, manifest, store } = await appUpdate(
        { "etc/a.conf": "a=1\n", "etc/b.conf": "b=1\n" },
        (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/etc/a.conf && chattr +i ${app}/etc/a.conf
  - id: fail
    run: ["false"]
`,
      );
      liftImmutableAfterTest(join(app, "etc/a.conf"));
      const run = await rollpoint(["--store", store, "run", manifest]);
      expect(run.exitCode).toBe(2);
      expect(run.stdout).toContain(`${app}/etc/a.conf`);
      expect(run.stdout).toContain("ROLLBACK INCOMPLETE");
      expect(run.stdout).not.toContain("everything is as it was");
    },
  );
});
