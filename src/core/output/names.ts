/**
 * The names of temporary files and folders every writer stages into (one format):
 *   .headshare-tmp-<target name>-<pid>.<host>.<life>-<8 hex>        a file or staging folder
 *   .headshare-tmp-<target name>-<pid>.<host>.<life>-<8 hex>.old    a replaced output moved aside
 * always in the target's own folder (so the final rename is atomic). The owner part is
 * ./owner.ts's tag. Older releases' formats are recognised by their PID only.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { formatOwner, myOwnerTag, parseOwner, type OwnerTag } from "./owner";

export const TEMP_PREFIX = ".headshare-tmp-";

/** A temporary path beside `target` (same folder, so rename is atomic). */
export function tempPathFor(target: string, kind: "" | ".old" = ""): string {
  return path.join(path.dirname(target), `${TEMP_PREFIX}${path.basename(target)}-${formatOwner(myOwnerTag())}-${randomBytes(4).toString("hex")}${kind}`);
}

export interface ParsedTemp {
  /** The target's name (in the same folder). */
  readonly target: string;
  readonly owner: OwnerTag;
  /** A replaced output moved aside (restored when its target is missing and its owner is dead). */
  readonly aside: boolean;
}

const CURRENT = /^\.headshare-tmp-(.+)-(\d+\.[0-9a-f]{6}\.[0-9a-f]{8})-[0-9a-f]{8}(\.old)?$/;
/** Older formats: <name>-<pid>-<8 hex> (safetensors writer), <pid>-<ms>-<name> (match cache, exports), <name>-<pid> (training). */
const LEGACY = [/^\.headshare-tmp-.+-(\d+)-[0-9a-f]{8}$/, /^\.headshare-tmp-(\d+)-\d{10,}-.+$/, /^\.headshare-tmp-.+-(\d+)$/];

export function parseTempName(name: string): ParsedTemp | { readonly legacyPid: number } | undefined {
  const m = CURRENT.exec(name);
  if (m) return { target: m[1]!, owner: parseOwner(m[2]!)!, aside: m[3] === ".old" };
  for (const re of LEGACY) {
    const l = re.exec(name);
    if (l) return { legacyPid: Number(l[1]) };
  }
  return undefined;
}
