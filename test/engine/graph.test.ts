import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("rollpoint graph", () => {
  it("prints the compiled machine as a Mermaid stateDiagram-v2", async () => {
    const result = await rollpoint(["graph", "--var", "root=/srv/demo", "workflows/demo.yaml"], {
      cwd: ROOT,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatchInlineSnapshot(`
      "stateDiagram-v2
        [*] --> preflight
        preflight --> rollbackPoint: preflight done
        preflight --> notStarted: preflight failed
        rollbackPoint --> step_install: takeRollbackPoint done
        rollbackPoint --> notStarted: takeRollbackPoint failed
        step --> rollingBack: ABORT
        state step {
          step_install --> step_switch: runStep done
          step_install --> rollingBack: runStep failed
          step_switch --> step_configure: runStep done
          step_switch --> rollingBack: runStep failed
          step_configure --> step_migrate: runStep done
          step_configure --> rollingBack: runStep failed
          step_migrate --> step_health: runStep done
          step_migrate --> rollingBack: runStep failed
          step_health --> committed: runStep done
          step_health --> rollingBack: runStep failed
        }
        rollingBack --> rolledBack: rollBack done
        rollingBack --> rollbackFailed: rollBack failed
        committed --> [*]
        rolledBack --> [*]
        rollbackFailed --> [*]
        notStarted --> [*]
        failed --> [*]"
    `);
  });

  it("draws a continueOnError step's failure going on to the next step", async () => {
    const { writeFileSync, mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "rp-graph-"));
    const file = join(dir, "m.yaml");
    writeFileSync(
      file,
      'apiVersion: rollpoint/v1\nname: g\nsteps:\n  - { id: a, run: ["true"], continueOnError: true }\n  - { id: b, run: ["true"] }\n',
    );
    const result = await rollpoint(["graph", file]);
    expect(result.stdout).toContain("step_a --> step_b: runStep done");
    expect(result.stdout).toContain("step_a --> step_b: runStep failed");
    expect(result.stdout).not.toContain("step_a --> rollingBack");
  });
});
