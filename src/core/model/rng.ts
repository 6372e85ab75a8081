/**
 * The project's one seeded random source: mulberry32 (a small, fast 32-bit PRNG) and standard normal
 * samples by Box–Muller. Fixtures, synthetic checkpoints, training init and tests all draw from it,
 * so a seed means the same numbers everywhere.
 */

/** mulberry32's state increment (the golden-ratio Weyl step). */
export const MULBERRY32_STEP = 0x6d2b79f5;

/** mulberry32's 32-bit output for an already advanced state (`state = (state + MULBERRY32_STEP) >>> 0`). */
export function mulberry32Bits(state: number): number {
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** mulberry32: uniform numbers in [0, 1) from a seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + MULBERRY32_STEP) >>> 0;
    return mulberry32Bits(a) / 4294967296;
  };
}

/** Standard normal samples from a uniform PRNG (Box–Muller; the second value of each pair is kept for the next call). */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
