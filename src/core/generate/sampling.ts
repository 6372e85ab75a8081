/**
 * Picking the next token from one position's logits: greedy (argmax, the lowest id among equal
 * maxima, as transformers.js and PyTorch pick), or sampled with temperature and nucleus (top-p)
 * truncation from a seeded RNG.
 */
import type { Rng } from "../train/rng";

export interface SamplingOptions {
  /** 0 = greedy. */
  readonly temperature: number;
  /** Nucleus: keep the most probable tokens whose mass reaches top_p (1 = all). */
  readonly topP: number;
}

/** argmax of logits[offset .. offset + V). */
export function argmax(logits: Float32Array, offset: number, V: number): number {
  let best = 0,
    max = -Infinity;
  for (let v = 0; v < V; v++) {
    const x = logits[offset + v]!;
    if (x > max) {
      max = x;
      best = v;
    }
  }
  return best;
}

/** Probabilities buffer reused between calls (grows to the largest vocabulary seen). */
let scratch = new Float64Array(0);

export function pickToken(logits: Float32Array, offset: number, V: number, o: SamplingOptions, rng: Rng): number {
  if (o.temperature === 0) return argmax(logits, offset, V);
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]! / o.temperature);
  const p = scratch.length >= V ? scratch : (scratch = new Float64Array(V));
  let z = 0;
  for (let v = 0; v < V; v++) {
    p[v] = Math.exp(logits[offset + v]! / o.temperature - max);
    z += p[v]!;
  }
  if (o.topP >= 1) {
    // no truncation: walk the ids in order (no sort)
    let u = rng.next() * z;
    for (let v = 0; v < V; v++) {
      u -= p[v]!;
      if (u <= 0) return v;
    }
    return V - 1;
  }
  // most probable first (ties: lower id first), then keep the smallest prefix with mass ≥ topP
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  let kept = 0,
    mass = 0;
  while (kept < V && (kept === 0 || mass < o.topP * z)) mass += p[order[kept++]!]!;
  let u = rng.next() * mass;
  for (let i = 0; i < kept; i++) {
    u -= p[order[i]!]!;
    if (u <= 0) return order[i]!;
  }
  return order[kept - 1]!;
}
