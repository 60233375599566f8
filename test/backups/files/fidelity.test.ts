import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { isRoot, makeTree, tempDir, treeState } from "../../helpers/tree.js";

async function setup(clock?: () => number) {
  const dir = await tempDir();
  const rollback = new GlobalRollback({
    backupDir: join(dir, "store"),
    ...(clock ? { clock } : {}),
  });
  return { dir, rollback, live: join(dir, "app") };
}

describe("file backups keep everything a restore must put back", () => {
  it("restores a modified tree to exactly its listing: bytes, modes, owners, links, mtimes", async () => {
    const { live, rollback } = await setup();
    const big = randomBytes(50 * 1024 * 1024);
    makeTree(live, {
      "etc/app.conf": "port=8080\n",
      "etc/secret.key": { content: "s3cret\n", mode: 0o600 },
      "bin/tool": { content: "#!/bin/sh\necho hi\n", mode: 0o4755 },
      "bin/group-tool": { content: "sgid\n", mode: 0o2750 },
      "data/nested/deep/leaf.txt": "leaf\n",
      "data/owned.txt": isRoot ? { content: "owned\n", uid: 1234, gid: 5678 } : "owned\n",
      empty: { dir: true },
      shared: { dir: true, mode: 0o1777 },
      "with space é ü 名前.txt": "unicode name\n",
      "links/abs": { symlink: "/etc/hostname" },
      "links/rel": { symlink: "../etc/app.conf" },
      "links/dangling": { symlink: "../nowhere/at/all" },
      "blob.bin": big,
    });
    await execa("mkfifo", [join(live, "pipe")]);
    utimesSync(join(live, "etc/app.conf"), 1_600_000_000.123456, 1_600_000_000.123456);
    const before = treeState(live);

    const info = await rollback.backupFile(live, "pre_update", "myapp");
    expect(info.backupType).toBe("file");
    expect(info.metadata.warnings).toEqual([]);

    // An update that touches every kind of thing.
    writeFileSync(join(live, "etc/app.conf"), "port=9090\n");
    chmodSync(join(live, "etc/secret.key"), 0o644);
    chmodSync(join(live, "bin/tool"), 0o755);
    if (isRoot) chownSync(join(live, "data/owned.txt"), 0, 0);
    rmSync(join(live, "data/nested"), { recursive: true });
    rmSync(join(live, "empty"), { recursive: true });
    unlinkSync(join(live, "links/rel"));
    symlinkSync("/somewhere/else", join(live, "links/rel"));
    unlinkSync(join(live, "links/abs"));
    writeFileSync(join(live, "links/abs"), "now a file\n");
    writeFileSync(join(live, "added.txt"), "created by the update\n");
    mkdirSync(join(live, "newdir/sub"), { recursive: true });
    writeFileSync(join(live, "newdir/sub/x"), "x");
    unlinkSync(join(live, "pipe"));
    const tampered = Buffer.from(big);
    tampered[12345] = (tampered[12345]! + 1) % 256;
    writeFileSync(join(live, "blob.bin"), tampered);
    rmSync(join(live, "with space é ü 名前.txt"));
    expect(treeState(live)).not.toEqual(before);

    const operation = await rollback.restoreBackupDetailed(info.backupId);
    expect(operation.outcome).toBe("restored");
    expect(treeState(live)).toEqual(before);
    expect(readFileSync(join(live, "blob.bin")).equals(big)).toBe(true);

    // A second restore finds nothing to do and changes nothing.
    const again = await rollback.restoreBackupDetailed(info.backupId);
    expect(again.outcome).toBe("unchanged");
    expect(treeState(live)).toEqual(before);
    await rollback.close();
  });

  it("records a missing path as absent, and restore removes what the update created there", async () => {
    const { dir, rollback } = await setup();
    const path = join(dir, "etc/new-feature.conf");
    const info = await rollback.backupFile(path, "pre", "myapp");
    expect(info.metadata.absent).toBe(true);
    makeTree(dir, { "etc/new-feature.conf": "feature=on\n" });
    expect(await rollback.restoreBackup(info.backupId)).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(dir, "etc"))).toBe(true);
    await rollback.close();
  });

  it("backs up a single file and puts back its bytes and mode", async () => {
    const { dir, rollback } = await setup();
    const path = join(dir, "config.conf");
    makeTree(dir, { "config.conf": { content: "a=1\n", mode: 0o640 } });
    const before = treeState(path);
    const info = await rollback.backupFile(path, "pre", "myapp");
    writeFileSync(path, "a=2\n");
    chmodSync(path, 0o777);
    await rollback.restoreBackup(info.backupId);
    expect(treeState(path)).toEqual(before);
    // The same path replaced by a directory comes back as the file.
    rmSync(path);
    mkdirSync(join(path, "inner"), { recursive: true });
    await rollback.restoreBackup(info.backupId);
    expect(treeState(path)).toEqual(before);
    await rollback.close();
  });

  it("leaves excluded paths out of the backup and alone on restore", async () => {
    const { live, rollback } = await setup();
    makeTree(live, {
      "keep.txt": "keep\n",
      "app.log": "log\n",
      "sub/debug.log": "dbg\n",
      "cache/a/b": "cached\n",
    });
    const info = await rollback.backupFile(live, "pre", "myapp", {
      exclude: ["*.log", "cache/**"],
    });
    const listing = (await rollback.getListing(info.backupId)).map((e) => e.rel);
    // As in git, `cache/**` matches what is inside cache/, not the directory itself.
    expect(listing).toEqual(["", "cache", "keep.txt", "sub"]);
    writeFileSync(join(live, "app.log"), "log grew\n");
    writeFileSync(join(live, "cache/new"), "new cache\n");
    writeFileSync(join(live, "keep.txt"), "changed\n");
    await rollback.restoreBackup(info.backupId);
    expect(readFileSync(join(live, "keep.txt"), "utf8")).toBe("keep\n");
    expect(readFileSync(join(live, "app.log"), "utf8")).toBe("log grew\n");
    expect(readFileSync(join(live, "cache/new"), "utf8")).toBe("new cache\n");
    await rollback.close();
  });

  it("records sockets and devices and says so instead of dropping them", async () => {
    const { live, rollback } = await setup();
    makeTree(live, { "a.txt": "a" });
    const net = await import("node:net");
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(join(live, "app.sock"), resolve));
    try {
      const info = await rollback.backupFile(live, "pre", "myapp");
      const kinds = (await rollback.getListing(info.backupId)).map((e) => [e.rel, e.kind]);
      expect(kinds).toContainEqual(["app.sock", "socket"]);
      expect(info.metadata.warnings).toEqual([
        expect.stringContaining("app.sock: socket recorded, but a restore cannot recreate it"),
      ]);
      // plan says it before anything is taken.
      const manifest = join(live, "..", "m.yaml");
      writeFileSync(
        manifest,
        `apiVersion: rollpoint/v1\nname: t\nrollbackPoint: { files: [${live}] }\nsteps:\n  - id: a\n    run: ["true"]\n`,
      );
      const plan = await execa("node", [
        "dist/cli/main.js",
        "--store",
        join(live, "..", "store"),
        "plan",
        manifest,
      ]);
      expect(plan.stdout).toMatch(
        new RegExp(
          `! ${live}: 1 file, .*; ${live}/app.sock: socket recorded, but a restore cannot recreate it`,
        ),
      );
    } finally {
      server.close();
    }
    await rollback.close();
  });

  it.runIf(isRoot)(
    "device nodes of any major and minor come back (pts 136, virtio 254, nvme 259, 4095, minor 300000)",
    async () => {
      const { live, rollback } = await setup();
      makeTree(live, { "a.txt": "a" });
      const devices: Array<[string, string, number, number]> = [
        ["pts", "c", 136, 3],
        ["virtio", "b", 254, 16],
        ["nvme", "b", 259, 1],
        ["top", "c", 4095, 1],
        ["wide", "c", 10, 300000],
      ];
      for (const [name, type, major, minor] of devices)
        await execa("mknod", [join(live, name), type, String(major), String(minor)]);
      const stat = async (name: string) =>
        (await execa("stat", ["-c", "%F %t:%T", join(live, name)])).stdout;
      const before = await Promise.all(devices.map(([name]) => stat(name)));
      const info = await rollback.backupFile(live, "pre", "myapp");
      for (const [name] of devices) unlinkSync(join(live, name));
      expect(await rollback.restoreBackup(info.backupId)).toBe(true);
      expect(await Promise.all(devices.map(([name]) => stat(name)))).toEqual(before);
      await rollback.close();
    },
  );

  it("mtimes before 1970 come back exactly, and a second restore has nothing to do", async () => {
    const { live, rollback } = await setup();
    makeTree(live, { "old.txt": "from 1960\n", link: { symlink: "old.txt" } });
    await execa("touch", ["-d", "@-315619199.123456789", join(live, "old.txt")]);
    await execa("touch", ["-h", "-d", "@-1.5", join(live, "link")]);
    const stamp = async () =>
      (await execa("stat", ["-c", "%n %y", join(live, "old.txt"), join(live, "link")])).stdout;
    const before = await stamp();
    const info = await rollback.backupFile(live, "pre", "myapp");
    writeFileSync(join(live, "old.txt"), "changed\n");
    unlinkSync(join(live, "link"));
    symlinkSync("elsewhere", join(live, "link"));
    expect(await rollback.restoreBackup(info.backupId)).toBe(true);
    expect(await stamp()).toBe(before);
    expect(before).toContain("1960-01-01 00:00:00.876543211");
    const again = await rollback.restoreBackupDetailed(info.backupId);
    expect(again).toMatchObject({ outcome: "unchanged" });
    await rollback.close();
  });

  it.runIf(isRoot)(
    "extended attributes, POSIX ACLs (access and default) and file capabilities come back, as getfattr, getfacl and getcap see them",
    async () => {
      // A clock ahead of the files: the second backup below takes its unchanged paths' attributes
      // from the first one's listing (their ctime did not move) and reads only the others.
      const { live, rollback } = await setup(() => Date.now() + 10_000);
      makeTree(live, {
        "bin/ping": { content: "#!/bin/sh\n", mode: 0o755 },
        "etc/app.conf": "a=1\n",
        "etc/notes": "n\n",
        "etc/keep.conf": "k=1\n",
        "shared/x": "x\n",
      });
      const tool = (cmd: string, ...args: string[]) => execa(cmd, args);
      await tool(
        "setfattr",
        "-n",
        "user.origin",
        "-v",
        "rollpoint test",
        join(live, "etc/app.conf"),
      );
      await tool("setfattr", "-n", "trusted.marker", "-v", "0x00ff", join(live, "etc/notes"));
      await tool("setfacl", "-m", "u:nobody:r,g:nogroup:rw", join(live, "etc/app.conf"));
      await tool("setfacl", "-d", "-m", "u:nobody:rx", join(live, "shared"));
      await tool("setcap", "cap_net_raw+ep", join(live, "bin/ping"));
      await tool("setfattr", "-n", "user.keep", "-v", "kept", join(live, "etc/keep.conf"));
      await tool("setfacl", "-m", "u:nobody:rw", join(live, "etc/keep.conf"));
      const oracle = async () => ({
        xattrs: (await tool("getfattr", "-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", live))
          .stdout,
        acls: (await tool("getfacl", "-R", "-P", "-p", live)).stdout,
        caps: (await tool("getcap", "-r", live)).stdout,
      });
      await rollback.backupFile(live, "earlier", "myapp");
      // Between the two backups, one attribute is added and one removed.
      await tool("setfattr", "-n", "user.between", "-v", "later", join(live, "shared/x"));
      await tool("setfattr", "-x", "user.keep", join(live, "etc/keep.conf"));
      await tool("setfattr", "-n", "user.keep2", "-v", "kept", join(live, "etc/keep.conf"));
      const before = await oracle();
      expect(before.xattrs).toContain("user.between");
      expect(before.caps).toContain("cap_net_raw=ep");
      for (const name of ["user.origin", "trusted.marker", "system.posix_acl_default"])
        expect(before.xattrs).toContain(name);
      expect(before.acls).toContain("user:nobody:r--");
      const info = await rollback.backupFile(live, "pre", "myapp");
      expect(info.metadata.stats).toMatchObject({ unchanged: 3 });

      // The update: rewrites the binary (dropping its capability), strips the ACLs and one
      // attribute, changes another, adds one the backup did not have.
      writeFileSync(join(live, "bin/ping"), "#!/bin/sh\necho new\n");
      // Contents changed in place: its attributes stay on it, but the restore writes a new file.
      writeFileSync(join(live, "etc/keep.conf"), "k=2\n");
      await tool("setfacl", "-b", join(live, "etc/app.conf"));
      await tool("setfacl", "-k", join(live, "shared"));
      await tool("setfattr", "-x", "trusted.marker", join(live, "etc/notes"));
      await tool("setfattr", "-n", "user.origin", "-v", "changed", join(live, "etc/app.conf"));
      await tool("setfattr", "-n", "user.added", "-v", "by the update", join(live, "shared/x"));
      expect(await oracle()).not.toEqual(before);

      expect(await rollback.restoreBackup(info.backupId)).toBe(true);
      expect(await oracle()).toEqual(before);
      await rollback.close();
    },
  );

  it("hard links within the backup come back as links, not copies", async () => {
    const { live, rollback } = await setup();
    makeTree(live, { "bin/tool": "v1\n", "other.txt": "o\n" });
    linkSync(join(live, "bin/tool"), join(live, "bin/tool-alias"));
    linkSync(join(live, "bin/tool"), join(live, "z-last"));
    const links = () =>
      ["bin/tool", "bin/tool-alias", "z-last"].map((rel) => {
        const st = statSync(join(live, rel));
        return { ino: st.ino, nlink: st.nlink, text: readFileSync(join(live, rel), "utf8") };
      });
    const info = await rollback.backupFile(live, "pre", "myapp");
    const listing = await rollback.getListing(info.backupId);
    expect(listing.find((e) => e.rel === "z-last")).toMatchObject({ target: "bin/tool" });
    // The update: one name replaced by a new file, the shared inode rewritten, a name removed.
    writeFileSync(join(live, "bin/new-alias"), "v2\n");
    renameSync(join(live, "bin/new-alias"), join(live, "bin/tool-alias"));
    writeFileSync(join(live, "bin/tool"), "v2 in place\n");
    unlinkSync(join(live, "z-last"));
    expect(await rollback.restoreBackup(info.backupId)).toBe(true);
    const after = links();
    expect(after.map((l) => l.text)).toEqual(["v1\n", "v1\n", "v1\n"]);
    expect(new Set(after.map((l) => l.ino)).size).toBe(1);
    expect(after[0]!.nlink).toBe(3);
    await rollback.close();
  });

  it("a backed-up path that is a symlink is kept as a link, and the user is told its target is not", async () => {
    const { dir, rollback } = await setup();
    makeTree(dir, { "releases/1.0/app.bin": "v1", current: { symlink: "releases/1.0" } });
    const info = await rollback.backupFile(join(dir, "current"), "pre", "myapp");
    expect(info.metadata.warnings).toEqual([
      `${join(dir, "current")} is a symlink to releases/1.0: only the link itself is protected; name releases/1.0 too to protect what it points to`,
    ]);
    unlinkSync(join(dir, "current"));
    symlinkSync("releases/2.0", join(dir, "current"));
    await rollback.restoreBackup(info.backupId);
    expect(readlinkSync(join(dir, "current"))).toBe("releases/1.0");
    await rollback.close();
  });
});
