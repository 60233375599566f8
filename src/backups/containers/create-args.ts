// A single container created again from its record: the `create` arguments that give back every
// field record.ts compares. A compose project's containers are never made here (compose makes
// them from the restored files).

import type { ContainerEngineName } from "./config.js";
import type { ContainerRecord } from "./record.js";

export function createArgs(
  engine: ContainerEngineName,
  record: ContainerRecord,
  imageEntrypoint: readonly string[],
): string[] {
  const s = record.shape;
  const args = ["create", "--name", record.name];
  if (s.hostname) args.push("--hostname", s.hostname);
  if (s.user) args.push("--user", s.user);
  if (s.workingDir) args.push("--workdir", s.workingDir);
  for (const e of s.env) args.push("--env", e);
  for (const [k, v] of Object.entries(s.labels)) args.push("--label", `${k}=${v}`);
  if (s.restart !== "no") args.push("--restart", s.restart);
  if (s.networkMode && s.networkMode !== "default") args.push("--network", s.networkMode);
  for (const p of s.ports) {
    // `hostIp:hostPort->port/proto`, as recordOf writes it.
    const [host, container] = p.split("->") as [string, string];
    const [ip, hostPort] = [
      host.slice(0, host.lastIndexOf(":")),
      host.slice(host.lastIndexOf(":") + 1),
    ];
    args.push("--publish", `${ip ? `${ip}:` : ""}${hostPort}:${container}`);
  }
  for (const m of s.mounts) {
    const parts = m.split(" ");
    const [type, ...rest] = parts;
    if (type === "volume") {
      const [name, dest, mode] = rest as [string, string, string];
      args.push("--volume", name === "(anonymous)" ? dest : `${name}:${dest}:${mode}`);
    } else if (type === "bind") {
      const [source, dest, mode] = rest as [string, string, string];
      args.push("--volume", `${source}:${dest}:${mode}`);
    } else if (type === "tmpfs") {
      args.push("--tmpfs", rest[0]!);
    }
  }
  if (s.privileged) args.push("--privileged");
  for (const c of s.capAdd) args.push("--cap-add", c);
  for (const c of s.capDrop) args.push("--cap-drop", c);
  if (s.readOnly) args.push("--read-only");
  for (const h of s.extraHosts) args.push("--add-host", h);
  const ownEntrypoint = JSON.stringify(s.entrypoint) !== JSON.stringify(imageEntrypoint);
  if (ownEntrypoint) {
    // Docker's flag takes one word; Podman's also takes a JSON array.
    args.push(
      "--entrypoint",
      engine === "podman" ? JSON.stringify(s.entrypoint) : (s.entrypoint[0] ?? ""),
    );
  }
  args.push(s.imageRef);
  // Docker's one-word entrypoint: the rest of it leads the command (the proof then names the
  // split, if the image's entrypoint was a list of several words).
  if (ownEntrypoint && engine === "docker") args.push(...s.entrypoint.slice(1));
  args.push(...s.cmd);
  return args;
}
