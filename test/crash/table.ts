/** A valid match table for tests that only need some plan: seeded sources in lower layers, distinct scores. */
import type { MatchTable } from "../../src/core/share/types";

export function syntheticTable(layers: number, unitsPerLayer: number, seed = 11): MatchTable {
  const entries = [];
  let s = seed >>> 0;
  for (let l = 1; l < layers; l++)
    for (let u = 0; u < unitsPerLayer; u++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      entries.push({ layer: l, unit: u, sourceLayer: s % l, sourceUnit: (s >>> 8) % unitsPerLayer, score: ((s >>> 4) % 1000) / 1000 });
    }
  return {
    format: "headshare.match",
    version: 1,
    strategy: "qk",
    granularity: "group",
    layers,
    unitsPerLayer,
    parametersPerUnit: null,
    bytesPerUnit: null,
    parameters: null,
    entries,
  };
}
