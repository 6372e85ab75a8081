/**
 * Reading and validating `config.json` (Hugging Face transformers). Field accessors name the
 * file and the field when a value has the wrong type.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { ModelError } from "./errors";

export type RawConfig = Readonly<Record<string, unknown>>;

/** config.json is read whole; real ones are a few KB. A larger file is refused before it is read. */
const MAX_CONFIG_BYTES = 16 * 2 ** 20;

/** Reads config.json: must exist, be UTF-8 JSON, and be an object. */
export async function readConfig(configPath: string): Promise<RawConfig> {
  const abs = path.resolve(configPath);
  let text: string;
  try {
    const st = await fs.stat(abs);
    if (!st.isFile())
      throw new ModelError("bad-config", abs, "config.json is not a regular file (a folder, FIFO or device); replace it with the model's config.json");
    const size = st.size;
    if (size > MAX_CONFIG_BYTES) {
      throw new ModelError(
        "bad-config",
        abs,
        `config.json is ${size} bytes; a model's config is a small JSON file (at most ${MAX_CONFIG_BYTES} bytes here), so this one is corrupt; re-download it`,
      );
    }
    text = await fs.readFile(abs, "utf8");
  } catch (e) {
    if (e instanceof ModelError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ModelError(
        "missing-config",
        abs,
        "config.json is missing; a checkpoint needs the Hugging Face config.json beside its weights (copy it from the model's repository)",
      );
    }
    throw new ModelError("io", abs, `cannot read config.json (${e instanceof Error ? e.message : String(e)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ModelError("bad-config", abs, `config.json is not valid JSON (${e instanceof Error ? e.message : String(e)}); fix or re-download it`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ModelError("bad-config", abs, "config.json is not a JSON object; it should hold the model's hyper-parameters");
  }
  return parsed as RawConfig;
}

/** Typed access to config fields with clear errors. */
export class ConfigReader {
  constructor(
    readonly file: string,
    readonly raw: RawConfig,
  ) {}

  private get(keys: readonly string[]): [string, unknown] | undefined {
    for (const k of keys) {
      const v = this.raw[k];
      if (v !== undefined && v !== null) return [k, v];
    }
    return undefined;
  }

  /** A positive integer from the first present key; `fallback` when none present (required when undefined). */
  int(keys: readonly string[], fallback?: number, min = 1): number {
    const hit = this.get(keys);
    if (!hit) {
      if (fallback !== undefined) return fallback;
      throw new ModelError(
        "bad-config",
        this.file,
        `config.json has no "${keys[0]}"${
          keys.length > 1
            ? ` (nor ${keys
                .slice(1)
                .map((k) => `"${k}"`)
                .join(", ")})`
            : ""
        }; it is required for this architecture`,
      );
    }
    const [k, v] = hit;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new ModelError("bad-config", this.file, `config.json "${k}" is ${JSON.stringify(v)}; expected an integer >= ${min}`);
    }
    return v;
  }

  num(keys: readonly string[], fallback: number): number {
    const hit = this.get(keys);
    if (!hit) return fallback;
    const [k, v] = hit;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new ModelError("bad-config", this.file, `config.json "${k}" is ${JSON.stringify(v)}; expected a number`);
    }
    return v;
  }

  /** A finite number > 0 (an epsilon, a RoPE base): 0, negatives, NaN and Infinity are refused naming the field. */
  positive(keys: readonly string[], fallback: number): number {
    const v = this.num(keys, fallback);
    if (!(v > 0)) {
      const k = keys.find((x) => this.raw[x] !== undefined && this.raw[x] !== null) ?? keys[0]!;
      throw new ModelError("bad-config", this.file, `config.json "${k}" is ${v}; it must be a number greater than 0 (e.g. ${fallback}); fix config.json`);
    }
    return v;
  }

  bool(keys: readonly string[], fallback: boolean): boolean {
    const hit = this.get(keys);
    if (!hit) return fallback;
    const [k, v] = hit;
    if (typeof v !== "boolean") throw new ModelError("bad-config", this.file, `config.json "${k}" is ${JSON.stringify(v)}; expected true or false`);
    return v;
  }

  str(keys: readonly string[], fallback: string): string {
    const hit = this.get(keys);
    if (!hit) return fallback;
    const [k, v] = hit;
    if (typeof v !== "string") throw new ModelError("bad-config", this.file, `config.json "${k}" is ${JSON.stringify(v)}; expected a string`);
    return v;
  }

  /** An optional token id (an integer, or the first of a list). */
  tokenId(key: string): number | undefined {
    const v = this.raw[key];
    const x = Array.isArray(v) ? v[0] : v;
    return typeof x === "number" && Number.isSafeInteger(x) && x >= 0 ? x : undefined;
  }

  /** `architectures[0]` when it is a string. */
  architecture(): string | undefined {
    const a = this.raw.architectures;
    if (a === undefined || a === null) return undefined;
    if (!Array.isArray(a) || (a.length > 0 && typeof a[0] !== "string")) {
      throw new ModelError("bad-config", this.file, `config.json "architectures" is ${JSON.stringify(a)}; expected a list of class names`);
    }
    return a[0] as string | undefined;
  }

  modelType(): string | undefined {
    const t = this.raw.model_type;
    return typeof t === "string" ? t : undefined;
  }
}
