import { describe, expect, it } from "vitest";
import type { WrittenStep } from "../../src/manifest/types.js";
import type { StepContext } from "../../src/steps/execute.js";
import { executeStep } from "../../src/steps/execute.js";

describe("step kinds", () => {
  it("a step of a kind the engine does not know fails; it never succeeds silently", async () => {
    // What a newer manifest (or a hand-built one through the library) could hand the engine.
    const step = { id: "deploy", helm: { chart: "x" } } as unknown as WrittenStep;
    const ctx = {
      signal: new AbortController().signal,
      onLines: () => {},
    } as unknown as StepContext;
    await expect(executeStep(step, ctx)).rejects.toThrow("step deploy has no kind rollpoint knows");
  });
});
