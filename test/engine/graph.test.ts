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
        step_install --> rollingBack: runStep failed
        step_switch --> rollingBack: runStep failed
        step_configure --> rollingBack: runStep failed
        step_migrate --> rollingBack: runStep failed
        step_health --> committed: runStep done
        step_health --> rollingBack: runStep failed
        rollingBack_settle --> rollbackFailed: settle failed
        rollingBack_verify --> rollbackFailed: verifyPoint failed
        rollingBack_done --> rolledBack: rollbackOk
        rollingBack_done --> rollbackFailed: otherwise
        preflight
        rollbackPoint
        state step {
          [*] --> step_install
          step_install --> step_switch: runStep done
          step_switch --> step_configure: runStep done
          step_configure --> step_migrate: runStep done
          step_migrate --> step_health: runStep done
          step_install
          step_switch
          step_configure
          step_migrate
          step_health
        }
        state rollingBack {
          [*] --> rollingBack_settle
          rollingBack_settle --> rollingBack_undo_switch: settle done
          rollingBack_undo_switch --> rollingBack_verify: undo done
          rollingBack_undo_switch --> rollingBack_verify: undo failed
          rollingBack_undo_switch --> rollingBack_verify: notCompleted
          rollingBack_verify --> rollingBack_stopServices: verifyPoint done
          rollingBack_stopServices --> rollingBack_restore_db_notes: stopServices done
          rollingBack_stopServices --> rollingBack_restore_db_notes: stopServices failed
          rollingBack_restore_file_1 --> rollingBack_returnServices: restoreMember done
          rollingBack_restore_file_1 --> rollingBack_returnServices: restoreMember failed
          rollingBack_returnServices --> rollingBack_done: returnServices done
          rollingBack_returnServices --> rollingBack_done: returnServices failed
          rollingBack_settle
          state rollingBack_undo {
            [*] --> rollingBack_undo_switch
            rollingBack_undo_switch
          }
          rollingBack_verify
          rollingBack_stopServices
          state rollingBack_restore {
            [*] --> rollingBack_restore_db_notes
            rollingBack_restore_db_notes --> rollingBack_restore_file_4: restoreMember done
            rollingBack_restore_db_notes --> rollingBack_restore_file_4: restoreMember failed
            rollingBack_restore_file_4 --> rollingBack_restore_file_3: restoreMember done
            rollingBack_restore_file_4 --> rollingBack_restore_file_3: restoreMember failed
            rollingBack_restore_file_3 --> rollingBack_restore_file_2: restoreMember done
            rollingBack_restore_file_3 --> rollingBack_restore_file_2: restoreMember failed
            rollingBack_restore_file_2 --> rollingBack_restore_file_1: restoreMember done
            rollingBack_restore_file_2 --> rollingBack_restore_file_1: restoreMember failed
            rollingBack_restore_db_notes
            rollingBack_restore_file_4
            rollingBack_restore_file_3
            rollingBack_restore_file_2
            rollingBack_restore_file_1
          }
          rollingBack_returnServices
          rollingBack_done
        }
        committed
        rolledBack
        rollbackFailed
        notStarted
        committed --> [*]
        rolledBack --> [*]
        rollbackFailed --> [*]
        notStarted --> [*]"
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

  it("is valid Mermaid, and Mermaid's own model puts every state in its box (reverse-proxy's ids have dashes)", async () => {
    const { JSDOM } = await import("jsdom");
    const dom = new JSDOM("<!doctype html><html><body></body></html>");
    Object.assign(globalThis, { window: dom.window, document: dom.window.document });
    const { default: mermaidjs } = await import("mermaid");
    for (const file of ["workflows/demo.yaml", "workflows/reverse-proxy.yaml"]) {
      const result = await rollpoint(["graph", "--var", "root=/srv/demo", file], { cwd: ROOT });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(await mermaidjs.parse(result.stdout)).toMatchObject({ diagramType: "stateDiagram" });
      const diagram = await mermaidjs.mermaidAPI.getDiagramFromText(result.stdout);
      const { nodes, edges } = (
        diagram.db as unknown as {
          getData(): {
            nodes: { id: string; parentId?: string; isGroup?: boolean }[];
            edges: { start: string; end: string }[];
          };
        }
      ).getData();
      // The box each state belongs in, from its name: step_x in step, rollingBack_restore_x in
      // rollingBack_restore, and so on; the outcomes at the top.
      const box = (id: string) =>
        ["rollingBack_restore", "rollingBack_undo", "rollingBack", "step"].find(
          (b) => id.startsWith(`${b}_`) && id !== b,
        );
      for (const node of nodes.filter(
        (n) => !n.id.startsWith("root_") && !n.id.endsWith("_start"),
      )) {
        expect(node.parentId, `${file}: ${node.id}`).toBe(box(node.id));
      }
      // Nothing drawn that nothing leads to (a box is entered through its first state).
      const reached = new Set(edges.map((e) => e.end));
      for (const node of nodes.filter(
        (n) => !n.isGroup && !n.id.endsWith("_start") && n.id !== "preflight",
      ))
        expect(reached.has(node.id), `${file}: nothing leads to ${node.id}`).toBe(true);
    }
  });
});
