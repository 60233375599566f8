import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
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

function run(
  step: WrittenStep,
  services: ServiceManager,
  clock: ManualClock,
  logged: string[] = [],
) {
  return executeStep(step, {
    manifestFile: "/dev/null",
    databases: [],
    services,
    containment: {} as Containment,
    signal: new AbortController().signal,
    onLines: (lines) => logged.push(...lines),
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

  it("a passing probe logs what answered: a unit's state, an HTTP status and the start of the body", async () => {
    const clock = new ManualClock();
    const logged: string[] = [];
    const { services } = probedService(() => "active");
    await clock.runUntil(
      run({ id: "up", check: { service: "web", once: true } }, services, clock, logged),
    );
    expect(logged).toEqual(["probe: web is active"]);

    let answer = { status: 200, body: "ok\n  version 2" };
    const server = createServer((_req, res) => res.writeHead(answer.status).end(answer.body));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    try {
      await run({ id: "up", check: { http: url, once: true } }, services, clock, logged);
      expect(logged.at(-1)).toBe(`probe: GET ${url} answered 200: ok version 2`);
      answer = { status: 503, body: "old worker" };
      await expect(
        run({ id: "up", check: { http: url, once: true } }, services, clock, logged),
      ).rejects.toThrow(`GET ${url} answered 503: old worker, expected 200`);
    } finally {
      server.close();
    }
  });
});
