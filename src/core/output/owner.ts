/**
 * Who wrote a temporary file or holds a lock, and whether that process still runs — decided not by
 * PID alone (PIDs are reused, and differ across PID namespaces, i.e. containers):
 *   hostTag  = hash(hostname, PID-namespace id): another machine or container gives another tag,
 *              and its files are never judged dead from here;
 *   lifeTag  = hash(boot id, the process's start time in clock ticks since boot): a reused PID or a
 *              PID from before a reboot gives another tag.
 * Where /proc is missing (macOS, Windows) the start time is unknown and liveness falls back to
 * `kill(pid, 0)` on the same host.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";

export interface OwnerTag {
  readonly pid: number;
  /** 6 hex digits. */
  readonly host: string;
  /** 8 hex digits. */
  readonly life: string;
}

export type Liveness = "alive" | "dead" | "unknown";

const hash = (s: string, n: number): string => createHash("sha256").update(s).digest("hex").slice(0, n);

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return fallback;
  }
}

/** The start time (clock ticks since boot) of `pid` from /proc/<pid>/stat; null when it does not exist; "" without /proc. */
export function processStartTicks(pid: number): string | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return fs.existsSync("/proc/self/stat") ? null : "";
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; the fields after the last ")" start at field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19] ?? "";
}

let mine: OwnerTag | undefined;
let bootId: string | undefined;

function hostTag(): string {
  let ns = "";
  try {
    ns = fs.readlinkSync("/proc/self/ns/pid");
  } catch {
    /* no /proc: the host name alone */
  }
  return hash(`${os.hostname()}\0${ns}`, 6);
}

function lifeTag(start: string): string {
  bootId ??= readOr("/proc/sys/kernel/random/boot_id", "");
  return hash(`${bootId}\0${start}`, 8);
}

/** This process's tag (computed once). */
export function myOwnerTag(): OwnerTag {
  mine ??= { pid: process.pid, host: hostTag(), life: lifeTag(processStartTicks(process.pid) ?? "") };
  return mine;
}

/** "<pid>.<host>.<life>": the owner part of temporary names. */
export function formatOwner(t: OwnerTag): string {
  return `${t.pid}.${t.host}.${t.life}`;
}

const OWNER = /^(\d+)\.([0-9a-f]{6})\.([0-9a-f]{8})$/;
export function parseOwner(s: string): OwnerTag | undefined {
  const m = OWNER.exec(s);
  return m ? { pid: Number(m[1]), host: m[2]!, life: m[3]! } : undefined;
}

/** Whether a process with this PID exists here (EPERM: it exists, owned by someone else). */
export function pidExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether the owner still runs: "unknown" for another host or PID namespace (never treated as dead). */
export function ownerLiveness(t: OwnerTag): Liveness {
  const me = myOwnerTag();
  if (t.host !== me.host) return "unknown";
  if (t.pid === me.pid) return t.life === me.life ? "alive" : "dead";
  const start = processStartTicks(t.pid);
  if (start === null) return "dead";
  if (start === "") return pidExists(t.pid) ? "alive" : "dead"; // no /proc: PID only
  return lifeTag(start) === t.life ? "alive" : "dead";
}
