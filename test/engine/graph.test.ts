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
        preflight --> notStarted: preflight done [abortRequested]
        preflight --> rollbackPoint: preflight done
        preflight --> notStarted: preflight failed
        rollbackPoint --> rollingBack: takeRollbackPoint done [abortRequested]
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
        state rollingBack {
          rollingBack_settle --> rollingBack_undo_switch: settle done
          rollingBack_settle --> rollbackFailed: settle failed
          state rollingBack_undo {
            rollingBack_undo_switch --> rollingBack_verify: undo done
            rollingBack_undo_switch --> rollingBack_verify: undo failed
            rollingBack_undo_switch --> rollingBack_verify: notCompleted
          }
          rollingBack_verify --> rollingBack_stopServices: verifyPoint done
          rollingBack_verify --> rollingBack_stopServices: verifyPoint failed
          rollingBack_stopServices --> rollingBack_restore_db_notes: stopServices done
          rollingBack_stopServices --> rollingBack_restore_db_notes: stopServices failed
          state rollingBack_restore {
            rollingBack_restore_db_notes --> rollingBack_restore_file_4: restoreMember done
            rollingBack_restore_db_notes --> rollingBack_restore_file_4: restoreMember failed
            rollingBack_restore_file_4 --> rollingBack_restore_file_3: restoreMember done
            rollingBack_restore_file_4 --> rollingBack_restore_file_3: restoreMember failed
            rollingBack_restore_file_3 --> rollingBack_restore_file_2: restoreMember done
            rollingBack_restore_file_3 --> rollingBack_restore_file_2: restoreMember failed
            rollingBack_restore_file_2 --> rollingBack_restore_file_1: restoreMember done
            rollingBack_restore_file_2 --> rollingBack_restore_file_1: restoreMember failed
            rollingBack_restore_file_1 --> rollingBack_returnServices: restoreMember done
            rollingBack_restore_file_1 --> rollingBack_returnServices: restoreMember failed
          }
          rollingBack_returnServices --> rollingBack_done: returnServices done
          rollingBack_returnServices --> rollingBack_done: returnServices failed
          rollingBack_done --> rolledBack: rollbackOk
          rollingBack_done --> rollbackFailed: otherwise
        }
        committed --> [*]
        rolledBack --> [*]
        rollbackFailed --> [*]
        notStarted --> [*]
        failed --> [*]
        failedForward --> [*]"
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
