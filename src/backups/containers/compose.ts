// The compose tool a host has: `docker compose` (v2), `docker-compose` (v1) or `podman-compose`
// (and `podman compose` where podman has it). rollpoint only ever asks it to create a project's
// containers from its files, never to pull or build.

import { dirname } from "node:path";
import type { ContainerConfig, ContainerEngineName } from "./config.js";
import { call, EngineCallFailed } from "./engine.js";

const CANDIDATES: Record<ContainerEngineName, string[][]> = {
  docker: [["docker", "compose"], ["docker-compose"]],
  podman: [["podman-compose"], ["podman", "compose"]],
};

const found = new Map<ContainerEngineName, Promise<string[]>>();

/** The argv prefix of the engine's compose tool; fails naming the packages to install. */
export function composeTool(engine: ContainerEngineName): Promise<string[]> {
  let tool = found.get(engine);
  if (!tool) {
    tool = findTool(engine);
    // A failed look is not kept: the operator may install the tool and retry in the same process.
    tool.catch(() => found.delete(engine));
    found.set(engine, tool);
  }
  return tool;
}

async function findTool(engine: ContainerEngineName): Promise<string[]> {
  for (const argv of CANDIDATES[engine]) {
    try {
      await call(argv[0]!, [...argv.slice(1), "version"], 60_000);
      return argv;
    } catch {
      // The next candidate.
    }
  }
  throw new EngineCallFailed(
    `no compose tool for ${engine}: none of ${CANDIDATES[engine].map((a) => a.join(" ")).join(", ")} runs; install ${engine === "docker" ? "docker-compose (or Docker's compose plugin)" : "podman-compose"}`,
  );
}

/**
 * Create (or recreate) the project's services from its files, as they are now: `--no-build`, and
 * with v2 `--pull never` (v1 and podman-compose pull only what is missing, and a missing image
 * was put back from the store first). Detached; the states are set afterwards. Run from the
 * directory and with the file names the containers were made with (their compose labels), so
 * that the labels compose writes are those recorded, and `.env` is found where it was.
 */
export async function composeUp(
  member: ContainerConfig,
  services: readonly string[],
  made?: { workingDir?: string; configFiles?: string },
): Promise<void> {
  const tool = await composeTool(member.engine);
  const v2 = tool.length === 2 && tool[0] === "docker";
  const files = made?.configFiles ? made.configFiles.split(",") : [member.compose!];
  const args = [
    ...tool.slice(1),
    ...files.flatMap((f) => ["-f", f]),
    "-p",
    member.project!,
    "up",
    "-d",
    "--no-build",
    ...(v2 ? ["--pull", "never"] : []),
    "--force-recreate",
    "--no-deps",
    ...services,
  ];
  await call(tool[0]!, args, undefined, made?.workingDir ?? dirname(member.compose!));
}
