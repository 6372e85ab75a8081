/** A small seeded RNG (mulberry32) with normal samples (Box–Muller) and a resumable state. */
import { gaussian, MULBERRY32_STEP, mulberry32Bits } from "../model/rng";

export class Rng {
  private a: number;
  private readonly gauss = gaussian(() => this.next());

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + MULBERRY32_STEP) >>> 0;
    return mulberry32Bits(this.a) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller, pairs: every other call uses no uniforms). */
  normal(): number {
    return this.gauss();
  }

  get state(): number {
    return this.a;
  }
}
