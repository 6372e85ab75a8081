/**
 * Optional fields under `exactOptionalPropertyTypes`: an absent key and a key holding `undefined` are
 * different types. Values read from optional sources (zod's `.optional()` params, a config key that
 * may be missing, an optional tensor) are `T | undefined`; options and specs that leave a key out
 * when it has no value take `definedOnly(...)` of them. Pure: every runtime may import it.
 */

/** `T` with each key whose value may be undefined made optional, without the undefined. */
export type DefinedOnly<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/** A shallow copy of `o` without the keys whose value is undefined. */
export function definedOnly<T extends object>(o: T): DefinedOnly<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as DefinedOnly<T>;
}
