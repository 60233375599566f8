import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const script = (name: string) => join(ROOT, "scripts", name);

// A mistyped option must not start a campaign: it starts servers of its own and runs for hours.
describe("the fault campaign's scripts read their options before they start anything", () => {
  it("faults.mjs: --help prints the usage (exit 0); an unknown option or a bad value is refused (exit 3)", async () => {
    const help = await execa(process.execPath, [script("faults.mjs"), "--help"], { reject: false });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^usage: node scripts\/faults\.mjs \[--trials N\]/);
    for (const [argv, said] of [
      [["--trails", "3"], "unknown option --trails"],
      [["--trials", "ten"], "--trials ten: expected a whole number"],
      [["--kinds", "sqlite,oracle"], "--kinds: unknown kind oracle"],
      [["--commands", "rn"], "--commands: unknown command rn"],
      [["--json"], "--json needs a value"],
    ] as const) {
      const refused = await execa(process.execPath, [script("faults.mjs"), ...argv], {
        reject: false,
      });
      expect(refused.exitCode, refused.stderr).toBe(3);
      expect(refused.stderr.split("\n")[0]).toBe(`faults: ${said}`);
      expect(refused.stdout).toBe("");
    }
  });

  it("faults-report.mjs: --help, and a file that is not a shard's report named (exit 3, no stack)", async () => {
    const help = await execa(process.execPath, [script("faults-report.mjs"), "--help"], {
      reject: false,
    });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^usage: node scripts\/faults-report\.mjs/);
    const missing = await execa(process.execPath, [script("faults-report.mjs"), "no-such.json"], {
      reject: false,
    });
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toBe("faults-report: no-such.json is not a shard's report (ENOENT)");
    const notJson = await execa(
      process.execPath,
      [script("faults-report.mjs"), join(ROOT, "README.md")],
      {
        reject: false,
      },
    );
    expect(notJson.exitCode).toBe(3);
    expect(notJson.stderr).toMatch(/README\.md is not a shard's report \(.*not valid JSON\)$/);
  });
});
