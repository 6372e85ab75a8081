/**
 * Match tables cached by checkpoint identity: (weights path, size, mtime, strategy, granularity).
 * A table is a pure function of the weights and those options, so a cache hit is exact unless the
 * file changed in place with the same size and mtime. Used by the extension (global storage) and
 * available to the CLI. Sharded checkpoints: size = sum over the index and its shards, mtime = the
 * newest of them.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { resolveCheckpointPaths } from "../core/model/checkpoint";
import { writeFileAtomic } from "../core/output/atomic";
import { parseMatchTable, serializeMatchTable } from "../core/share/matchTable";
import type { Granularity } from "../core/model/types";
import type { MatchTable, Strategy } from "../core/share/types";
import { INDEX_SUFFIX, readIndex } from "../core/safetensors/sharded";

export interface CheckpointIdentity {
  /** Absolute path of the weights (the .safetensors file, or the index json of a sharded checkpoint). */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}
export interface MatchCacheKey extends CheckpointIdentity {
  readonly strategy: Strategy;
  readonly granularity: Granularity;
}

/** The identity of a checkpoint (folder, weights file or index json), from stat calls only. */
export async function checkpointIdentity(modelPath: string): Promise<CheckpointIdentity> {
  const { weightsPath } = await resolveCheckpointPaths(modelPath);
  const st = await fs.stat(weightsPath);
  let size = st.size;
  let mtimeMs = st.mtimeMs;
  if (weightsPath.endsWith(INDEX_SUFFIX)) {
    const index = await readIndex(weightsPath);
    for (const shard of index.shards) {
      const s = await fs.stat(path.join(path.dirname(weightsPath), shard));
      size += s.size;
      mtimeMs = Math.max(mtimeMs, s.mtimeMs);
    }
  }
  return { path: weightsPath, size, mtimeMs };
}

/** A stable string key (hex SHA-256 of the identity and options). */
export function matchCacheKey(key: MatchCacheKey): string {
  const canonical = JSON.stringify([key.path, key.size, key.mtimeMs, key.strategy, key.granularity]);
  return createHash("sha256").update(canonical).digest("hex");
}

/** A folder of cached match tables, one JSON file per key. Corrupt entries are treated as misses. */
export class MatchCache {
  constructor(readonly dir: string) {}

  fileFor(key: MatchCacheKey): string {
    return path.join(this.dir, `match-${matchCacheKey(key)}.json`);
  }

  /** The cached table, or undefined on a miss (absent, unreadable, or not for this identity). */
  async get(key: MatchCacheKey): Promise<MatchTable | undefined> {
    const file = this.fileFor(key);
    let text: string;
    try {
      text = await fs.readFile(file, "utf8");
    } catch {
      return undefined;
    }
    try {
      const table = parseMatchTable(JSON.parse(text), file);
      const s = table.source;
      const same =
        table.strategy === key.strategy && table.granularity === key.granularity && s?.model === key.path && s.size === key.size && s.mtimeMs === key.mtimeMs;
      return same ? table : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores a table under the key (its `source` is stamped with the identity), atomically. */
  async set(key: MatchCacheKey, table: MatchTable): Promise<string> {
    const file = this.fileFor(key);
    await fs.mkdir(this.dir, { recursive: true });
    const stamped: MatchTable = { ...table, source: { ...table.source, model: key.path, size: key.size, mtimeMs: key.mtimeMs } };
    await writeFileAtomic(file, serializeMatchTable(stamped));
    return file;
  }
}
