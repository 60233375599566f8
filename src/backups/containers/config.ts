// A container member as the resolved manifest holds it: every default filled in once (the engine
// found on PATH, the compose project's name), so that plan, run and recover agree on what it is.

import { accessSync, constants } from "node:fs";
import { basename, dirname, join } from "node:path";

export type ContainerEngineName = "docker" | "podman";

/** How named volumes are read while the point is taken. */
export type Consistency = "stop" | "pause" | "live";

/**
 * One `rollbackPoint.containers` entry, resolved: a compose project (`compose`, its `project`)
 * or single containers by name (`containers`), on `engine`.
 */
export interface ContainerConfig {
  name: string;
  engine: ContainerEngineName;
  /** A compose project's file (absolute), or absent for single containers. */
  compose?: string;
  /** The compose project's name (resolved when `compose` is set). */
  project?: string;
  /** Single containers by name (when `compose` is absent). */
  containers?: string[];
  consistent: Consistency;
  saveImages: boolean;
}

/** The entry as written (before defaults): what the library's rollback point spec takes. */
export type WrittenContainerConfig = Partial<ContainerConfig> & { name: string };

/**
 * Fill in the defaults from the caller's environment: the engine is docker when it is on PATH,
 * else podman (a host with neither is found by preflight, naming the packages); a compose
 * project is named as the compose tools name it by default.
 */
export function resolveContainer(
  written: WrittenContainerConfig,
  env: NodeJS.ProcessEnv,
): ContainerConfig {
  const engine =
    written.engine ?? (onPath("docker", env) || !onPath("podman", env) ? "docker" : "podman");
  return {
    ...written,
    engine,
    consistent: written.consistent ?? "pause",
    saveImages: written.saveImages ?? false,
    ...(written.compose
      ? { project: written.project ?? defaultProjectName(written.compose, env) }
      : {}),
  };
}

/**
 * docker compose (v2), docker-compose (v1) and podman-compose all default to the compose file's
 * directory name, lowercased, without what a project name may not hold; COMPOSE_PROJECT_NAME
 * overrides it for all three.
 */
export function defaultProjectName(composeFile: string, env: NodeJS.ProcessEnv): string {
  const fromEnv = env.COMPOSE_PROJECT_NAME?.trim();
  const name = fromEnv || basename(dirname(composeFile));
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, "");
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? "").split(":").some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** What the member is, in a few words (plan, `backups show`, messages). */
export function describeContainerMember(c: ContainerConfig): string {
  return c.compose
    ? `${c.engine} compose project ${c.project} (${c.compose})`
    : `${c.engine} containers ${(c.containers ?? []).join(", ")}`;
}
