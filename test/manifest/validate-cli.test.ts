import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const INVALID = join(ROOT, "test/fixtures/invalid");
// The store the invalid corpus names (12-store-path.yaml): paths inside it are refused.
const STORE = "/tmp/rollpoint-invalid-store";

interface Report {
  ok: boolean;
  files: Array<{
    file: string;
    ok: boolean;
    errors: Array<{ code: string; line: number; col: number; path: string; message: string }>;
  }>;
}

describe("rollpoint validate", () => {
  it("accepts every example in workflows/, without touching the host", async () => {
    const result = await rollpoint(["--store", STORE, "validate", "workflows"], { cwd: ROOT });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const examples = readdirSync(join(ROOT, "workflows")).filter((f) => f.endsWith(".yaml"));
    expect(examples.length).toBeGreaterThanOrEqual(4);
    for (const f of examples) expect(result.stdout).toContain(`✓ workflows/${f}`);
  });

  it("rejects each broken manifest with exit 3, at the expected line, with the expected message", async () => {
    const files = readdirSync(INVALID)
      .filter((f) => f.endsWith(".yaml"))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(30);
    // Named one by one: in a directory, files without apiVersion: rollpoint/... are skipped.
    const result = await rollpoint(
      ["--store", STORE, "--json", "validate", ...files.map((f) => join(INVALID, f))],
      { cwd: ROOT },
    );
    expect(result.exitCode).toBe(3);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.files).toHaveLength(files.length);
    for (const file of report.files) {
      const [, line, code, message] = /^# expect: (\d+): \[([A-Z_]+)\] (.*)$/.exec(
        readFileSync(file.file, "utf8").split("\n")[0]!,
      )!;
      expect(file.ok, file.file).toBe(false);
      const first = file.errors[0]!;
      // The code is the stable part: wordings may improve, codes do not change.
      expect(first.code, file.file).toBe(code);
      expect(`${first.line}: ${first.path}: ${first.message}`, file.file).toContain(`${line}: `);
      expect(`${first.path}: ${first.message}`, file.file).toContain(message!);
    }
  });

  it("prints file:line:col: path: message, one line per error, all errors of a file at once", async () => {
    const result = await rollpoint(
      [
        "--store",
        STORE,
        "validate",
        join(INVALID, "01-unknown-step-key.yaml"),
        join(INVALID, "13-bad-duration.yaml"),
      ],
      {
        cwd: ROOT,
      },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toContain(
      `${join(INVALID, "01-unknown-step-key.yaml")}:9:5: steps[1].retires: unknown key; did you mean "retries"?`,
    );
    expect(result.stdout).toContain(`✗ ${join(INVALID, "13-bad-duration.yaml")}: 1 error(s)`);
    const several = await rollpoint(
      [
        "--store",
        STORE,
        "--json",
        "validate",
        join(ROOT, "test/fixtures/manifests/three-errors.yaml"),
      ],
      { cwd: ROOT },
    );
    const report = JSON.parse(several.stdout) as Report;
    expect(report.files[0]!.errors.map((e) => e.path)).toEqual([
      "steps[0].run",
      "steps[1].retries",
      "steps[2].timeout",
    ]);
  });

  it("speaks GitHub Actions annotations with --format github", async () => {
    const result = await rollpoint(
      [
        "--store",
        STORE,
        "validate",
        "--format",
        "github",
        join(INVALID, "14-retries-too-many.yaml"),
      ],
      { cwd: ROOT },
    );
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toBe(
      `::error file=${join(INVALID, "14-retries-too-many.yaml")},line=7,col=14::steps[0].retries: must be between 0 and 10, found 50`,
    );
  });

  it("warns about an unset ${env.X} (CI lacks the host's environment) but fails an undefined ${vars.x}", async () => {
    const file = join(ROOT, "test/fixtures/manifests/env-and-vars.yaml");
    const env = { ...process.env };
    delete env.RP_UNSET_FOR_TEST;
    const ok = await rollpoint(["--store", STORE, "validate", "--var", "root=/opt/x", file], {
      cwd: ROOT,
      env,
      extendEnv: false,
    });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain(
      "warning: steps[0].run[1]: ${env.RP_UNSET_FOR_TEST} is not set here",
    );
    const missing = await rollpoint(["--store", STORE, "validate", file], {
      cwd: ROOT,
      env,
      extendEnv: false,
    });
    expect(missing.exitCode).toBe(3);
    expect(missing.stdout).toContain(
      "${vars.root} is not defined: add it to vars or pass --var root=...",
    );
    const badVar = await rollpoint(["--store", STORE, "validate", "--var", "no-equals", file], {
      cwd: ROOT,
    });
    expect(badVar.exitCode).toBe(3);
    expect(badVar.stderr).toContain("--var must be key=value");
  });

  it("in a directory, checks only rollpoint manifests: CI workflows and compose files are not errors", async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "rp-validate-"));
    mkdirSync(join(dir, ".github/workflows"), { recursive: true });
    writeFileSync(
      join(dir, ".github/workflows/ci.yml"),
      "on: push\njobs: { test: { runs-on: ubuntu-latest } }\n",
    );
    writeFileSync(join(dir, "compose.yaml"), "services:\n  web: { image: nginx }\n");
    writeFileSync(
      join(dir, "update.yaml"),
      'apiVersion: rollpoint/v1\nname: app\nsteps:\n  - { id: a, run: ["true"] }\n',
    );
    const ok = await rollpoint(["--store", STORE, "validate", dir]);
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain("update.yaml");
    expect(ok.stdout).not.toContain("compose.yaml");
    // Named explicitly, a file is checked whatever it holds.
    const named = await rollpoint(["--store", STORE, "validate", join(dir, "compose.yaml")]);
    expect(named.exitCode).toBe(3);
  });
});
