import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tree.js";

const ROOT = process.cwd();

describe("the published package", () => {
  it("type-checks in a consumer project that has no @types/pg or @types/better-sqlite3 (skipLibCheck off)", async () => {
    const dir = await tempDir();
    // What npm would publish (the suite built dist already).
    const packed = await execa(
      "npm",
      ["pack", "--ignore-scripts", "--json", "--pack-destination", dir],
      {
        cwd: ROOT,
      },
    );
    const tarball = join(dir, JSON.parse(packed.stdout)[0].filename);
    const consumer = join(dir, "consumer");
    const modules = join(consumer, "node_modules");
    mkdirSync(join(modules, "rollpoint"), { recursive: true });
    await execa("tar", ["xzf", tarball, "-C", join(modules, "rollpoint"), "--strip-components=1"]);
    // Its dependencies as npm installs them: their own types, and no @types/* but Node's, which
    // every TypeScript project on Node has.
    mkdirSync(join(modules, "@types"));
    symlinkSync(join(ROOT, "node_modules/@types/node"), join(modules, "@types/node"));
    for (const dep of ["commander", "ajv", "execa"]) {
      symlinkSync(join(ROOT, "node_modules", dep), join(modules, dep));
    }
    writeFileSync(
      join(consumer, "index.ts"),
      `import { GlobalRollback, preflightPostgres, type BackupInfo, type RollbackResult, type CleanupResult } from "rollpoint";
const rollback = new GlobalRollback({ backupDir: "/tmp/x" });
export const list: Promise<BackupInfo[]> = rollback.listBackups();
export const point: Promise<RollbackResult> = rollback.restoreRollbackPoint("p-x");
export const pruned: Promise<CleanupResult> = rollback.cleanupOldBackupsDetailed({ maxAgeDays: 30, keepMinimum: 5 });
export const pre = preflightPostgres({ type: "postgresql", database: "app" });
`,
    );
    writeFileSync(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
        },
        files: ["index.ts"],
      }),
    );
    const tsc = await execa(join(ROOT, "node_modules/.bin/tsc"), ["-p", consumer], {
      reject: false,
    });
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.exitCode).toBe(0);
  });
});
