// The container engine as its own command line drives it (docker or podman, the same verbs): no
// client library, so that what rollpoint does is what an operator would type, against whatever
// DOCKER_HOST, CONTAINER_HOST or containers.conf the caller's environment names.

import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { GlobalRollbackError } from "../../errors.js";
import type { ContainerEngineName } from "./config.js";

/** A CLI call's bound: a hung daemon must not hold a rollback forever. */
const CALL_TIMEOUT_MS = 5 * 60_000;
const MAX_OUTPUT = 256 * 2 ** 20;

/** Which package provides each engine's command (preflight's advice). */
export const ENGINE_PACKAGE: Record<ContainerEngineName, string> = {
  docker: "docker.io (or Docker's docker-ce)",
  podman: "podman",
};

export class EngineCallFailed extends Error {}

/** Run `command args` and give its stdout; fails with the command and its stderr named. */
export function call(
  command: string,
  args: readonly string[],
  timeoutMs = CALL_TIMEOUT_MS,
  cwd?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      { maxBuffer: MAX_OUTPUT, timeout: timeoutMs, killSignal: "SIGKILL", ...(cwd ? { cwd } : {}) },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const why =
          (error as { code?: unknown }).code === "ENOENT"
            ? "is not installed (not found on PATH)"
            : (error as { killed?: boolean }).killed
              ? `did not answer within ${Math.round(timeoutMs / 1000)}s`
              : `failed: ${String(stderr).trim() || error.message}`;
        reject(new EngineCallFailed(`${command} ${args.join(" ")} ${why}`, { cause: error }));
      },
    );
  });
}

/** Statuses a container passes through on its own, that no command may act on meanwhile. */
const PASSING = new Set(["stopping", "removing"]);

/** One engine's command line. */
export class Engine {
  constructor(readonly name: ContainerEngineName) {}

  run(args: readonly string[], timeoutMs?: number): Promise<string> {
    return call(this.name, args, timeoutMs);
  }

  /** `inspect` output as JSON (one object per argument, in order). */
  async inspect<T>(what: "container" | "image" | "volume", ids: readonly string[]): Promise<T[]> {
    if (!ids.length) return [];
    return JSON.parse(await this.run([what, "inspect", ...ids])) as T[];
  }

  /**
   * Stop a container and wait until the engine says it has stopped. Podman's `stop` can return
   * while the container still reads `stopping` (its exit is recorded by a cleanup process that
   * races the stopping one), and a `start` then fails with "container state improper".
   */
  async stop(name: string): Promise<void> {
    await this.run(["stop", name]);
    await this.settled(name);
  }

  /**
   * The container's status once it is out of a passing one (`stopping`, `removing`): what a
   * `start`, `stop` or a comparison with the record must act on. Fails, naming the status, when
   * it stays passing longer than `timeoutMs` (a stop killed half-way leaves Podman's record so).
   */
  async settled(name: string, timeoutMs = 60_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [found] = await this.inspect<{ State?: { Status?: string } }>("container", [name]);
      const status = found?.State?.Status;
      if (!status || !PASSING.has(status)) return status;
      if (Date.now() > deadline)
        throw new EngineCallFailed(
          `${this.name} container ${name} is still ${status} after ${Math.round(timeoutMs / 1000)}s`,
        );
      await sleep(200);
    }
  }

  /** Whether `inspect` finds it (an image or a volume that may have been removed). */
  async exists(what: "container" | "image" | "volume", id: string): Promise<boolean> {
    try {
      const field = what === "volume" ? "{{.Name}}" : "{{.Id}}";
      await this.run([what, "inspect", "--format", field, id], 60_000);
      return true;
    } catch (error) {
      if (/no such|not found|no container|unable to find/i.test(String((error as Error).message)))
        return false;
      throw error;
    }
  }

  /** The IDs of every container (running or not) with label `key=value`. */
  async containersLabelled(key: string, value: string): Promise<string[]> {
    const out = await this.run([
      "ps",
      "-a",
      "--no-trunc",
      "--filter",
      `label=${key}=${value}`,
      "--format",
      "{{.ID}}",
    ]);
    return out.split("\n").filter(Boolean);
  }

  /** The server's version: the engine answers (preflight). */
  async serverVersion(): Promise<string> {
    // Podman has no server to ask by default: `info` opens its storage, which is what can fail.
    const args =
      this.name === "docker"
        ? ["version", "--format", "{{.Server.Version}}"]
        : ["info", "--format", "{{.Version.Version}}"];
    return (await this.run(args, 60_000)).trim();
  }
}

/** An engine failure as rollpoint reports it: the member and what the engine said. */
export function engineError(
  code: "BACKUP_FAILED" | "RESTORE_FAILED" | "PREFLIGHT_FAILED",
  member: string,
  error: unknown,
): GlobalRollbackError {
  const message = error instanceof Error ? error.message : String(error);
  return new GlobalRollbackError(code, `containers ${member}: ${message}`, {
    cause: error,
    context: { path: member },
  });
}
