import { cpSync, existsSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? sources(join(dir, d.name))
      : d.name.endsWith(".ts")
        ? [join(dir, d.name)]
        : [],
  );
}

describe("modules a command loads on demand", () => {
  it("every dynamic import under src/cli is loaded up front by preload.ts", () => {
    const preload = join(ROOT, "src/cli/preload.ts");
    const listed = new Set(
      [...readFileSync(preload, "utf8").matchAll(/import\("([^"]+)"\)/g)].map((m) =>
        resolve(dirname(preload), m[1]!),
      ),
    );
    const lazy = sources(join(ROOT, "src/cli"))
      .filter((file) => file !== preload)
      .flatMap((file) =>
        [...readFileSync(file, "utf8").matchAll(/await import\(\s*"(\.[^"]+)"/g)].map((m) =>
          resolve(dirname(file), m[1]!),
        ),
      );
    expect(lazy.length).toBeGreaterThan(10);
    expect(lazy.filter((m) => !listed.has(m)).map((m) => relative(ROOT, m))).toEqual([]);
  });

  it("one that cannot be loaded stops `run` before anything is done: one line, exit 4, no store", async () => {
    // A copy of the built package with one on-demand module missing (a disk that fails to read it).
    const install = await tempDir();
    cpSync(join(ROOT, "dist"), join(install, "dist"), { recursive: true });
    cpSync(join(ROOT, "package.json"), join(install, "package.json"));
    cpSync(join(ROOT, "schemas"), join(install, "schemas"), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(install, "node_modules"));
    rmSync(join(install, "dist/engine/recover.js"));
    const { app, manifest, store } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app) => `steps:\n  - { id: edit, shell: "echo a=2 > ${app}/a.conf" }\n`,
    );
    const run = await execa(
      process.execPath,
      [join(install, "dist/cli/main.js"), "--store", store, "run", manifest],
      {
        reject: false,
      },
    );
    expect(run.exitCode, run.stderr).toBe(4);
    expect(run.stderr).toMatch(
      /^rollpoint: could not load its own code \(.*recover\.js.*\): nothing was done/,
    );
    expect(run.stderr).not.toContain("unexpected error");
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(readFileSync(join(app, "a.conf"), "utf8")).toBe("a=1\n");
    expect(existsSync(store)).toBe(false);
  });
});
