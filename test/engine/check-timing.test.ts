import { describe, expect, it } from "vitest";
import type { ServiceManager, UnitState } from "../../src/backups/services/manager.js";
import type { WrittenStep } from "../../src/manifest/types.js";
import type { Containment } from "../../src/processes/containment.js";
import { executeStep } from "../../src/steps/execute.js";
import { ManualClock } from "../helpers/clock.js";

// Checks on an injected clock: a service probe answered in memory, so an hour's settle window
// and a within of minutes are exercised at once and exactly (no process, no real wait).

function probedService(answers: (n: number) => string) {
  let probes = 0;
  const services = {
    async states(units: string[]): Promise<UnitState[]> {
      probes++;
      return units.map((unit) => ({
        unit,
        activeState: answers(probes),
        unitFileState: "enabled",
      }));
    },
  } as unknown as ServiceManager;
  return { services, probes: () => probes };
}

function run(step: WrittenStep, services: ServiceManager, clock: ManualClock) {
  return executeStep(step, {
    manifestFile: "/dev/null",
    databases: [],
    services,
    containment: {} as Containment,
    signal: new AbortController().signal,
    onLines: () => {},
    clock,
  });
}

describe("checks on the run's clock", () => {
  it("holdFor 1h at 1m: probed through the whole window (61 probes), then passes", async () => {
    const clock = new ManualClock();
    const { services, probes } = probedService(() => "active");
    const step: WrittenStep = {
      id: "up",
      check: { service: "web", interval: "1m", within: "30s", holdFor: "1h" },
    };
    await clock.runUntil(run(step, services, clock));
    expect(probes()).toBe(61);
    expect(clock.now()).toBe(3_600_000);
    expect(clock.pending).toBe(0);
  });

  it("holdFor: a failure 10 minutes into the window fails the step, saying when", async () => {
    const clock = new ManualClock();
    const { services, probes } = probedService((n) => (n <= 10 ? "active" : "failed"));
    const step: WrittenStep = {
      id: "up",
      check: { service: "web", interval: "1m", within: "30s", holdFor: "1h" },
    };
    await expect(clock.runUntil(run(step, services, clock))).rejects.toThrow(
      "check passed, then failed 600.0s into its 1h settle window: web is failed",
    );
    expect(probes()).toBe(11);
  });

  it("within 5m at 1m: probed at 0, 1, ... 5 minutes, then the failure names the last answer", async () => {
    const clock = new ManualClock();
    const { services, probes } = probedService(() => "activating");
    const step: WrittenStep = {
      id: "up",
      check: { service: "web", interval: "1m", within: "5m" },
    };
    await expect(clock.runUntil(run(step, services, clock))).rejects.toThrow(
      "check did not pass within 5m: web is activating",
    );
    expect(probes()).toBe(6);
    expect(clock.now()).toBe(5 * 60_000);
  });
});
