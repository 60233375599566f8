import { readdirSync, readFileSync } from "node:fs";

// The process table as Linux shows it in /proc: what containment needs to find a step's
// processes again from another process (recover) after the runner that started them died.

/** USER_HZ: the unit of /proc/PID/stat's start time; 100 on every Linux architecture we run on. */
export const TICKS_PER_SECOND = 100;

export interface ProcessInfo {
  pid: number;
  /** The parent's pid (0 for the first process). */
  ppid: number;
  pgid: number;
  /** The state letter of /proc/PID/stat: R, S, D, Z (zombie), ... */
  state: string;
  /** When the process started, in clock ticks since boot. */
  startTicks: number;
}

/** One process, or undefined when it is gone (or was never there). */
export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name in parentheses may itself hold spaces and parentheses: fields start after
  // the last ")". Then: state (3), ppid (4), pgrp (5), ..., starttime (22).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    pid,
    state: fields[0] ?? "?",
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTicks: Number(fields[19]),
  };
}

/** Every process there is now, zombies left out (they no longer run and cannot write). */
export function liveProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProcess(Number(name));
    if (info && info.state !== "Z" && info.state !== "X") out.push(info);
  }
  return out;
}

/**
 * Whether a process's environment holds `NAME=value` with a value for which `accept` is true.
 * Unreadable environments (another user's, as non-root) count as not holding it.
 */
export function environmentHas(
  pid: number,
  name: string,
  accept: (value: string) => boolean,
): boolean {
  let environ: Buffer;
  try {
    environ = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return false;
  }
  const prefix = `${name}=`;
  for (const entry of environ.toString("latin1").split("\0")) {
    if (entry.startsWith(prefix) && accept(entry.slice(prefix.length))) return true;
  }
  return false;
}

/** The process's command name (/proc/PID/comm: readable for every user's process), or "". */
export function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** This boot's id: a record of processes from another boot names nothing that is alive. */
export function bootId(): string {
  return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
}

/** Clock ticks since boot, on the clock /proc/PID/stat's start times use. */
export function ticksSinceBoot(): number {
  const seconds = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return Math.floor(seconds * TICKS_PER_SECOND);
}
