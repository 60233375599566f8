import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { rollpoint } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

describe("unit names never reach systemctl as options", () => {
  it("validate refuses -H and --help as unit names, with file, line and value (exit 3)", async () => {
    const dir = await tempDir();
    const manifest = join(dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: t
rollbackPoint:
  services: [nginx, "-.mount", "-Hhost"]
steps:
  - id: a
    check: { service: "--help" }
`,
    );
    const result = await rollpoint(["validate", manifest]);
    expect(result.exitCode).toBe(3);
    expect(result.stdout + result.stderr).toContain(
      `m.yaml:4:32: rollbackPoint.services[2]: must be a systemd unit name`,
    );
    expect(result.stdout + result.stderr).toContain('found "--help"');
    expect(result.stdout + result.stderr).not.toContain("services[1]");
  });

  it("the library refuses them too, before any systemctl runs", async () => {
    const dir = await tempDir();
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    await expect(rollback.backupServices(["-Hhost"], "x", "m")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining('"-Hhost" is not a systemd unit name'),
    });
  });
});
