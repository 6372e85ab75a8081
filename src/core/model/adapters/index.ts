/** The adapter registry: picks the adapter for a config.json by architecture, then model_type. */
import type { ConfigReader } from "../config";
import { ModelError } from "../errors";
import type { Family } from "../types";
import { bertAdapter } from "./bert";
import type { Adapter } from "./common";
import { gpt2Adapter } from "./gpt2";
import { llamaAdapter } from "./llama";
import { neoxAdapter } from "./neox";

export type { Adapter, AdapterContext } from "./common";
export { isBufferTensor } from "./common";
export const ADAPTERS: readonly Adapter[] = [llamaAdapter, gpt2Adapter, bertAdapter, neoxAdapter];

export function adapterForFamily(f: Family): Adapter {
  return ADAPTERS.find((a) => a.family === f)!;
}

/** The adapter for this config, or a ModelError naming the architecture and the supported ones. */
export function selectAdapter(config: ConfigReader): Adapter {
  const arch = config.architecture();
  const type = config.modelType();
  const byArch = arch ? ADAPTERS.find((a) => a.architectures.includes(arch)) : undefined;
  if (byArch) return byArch;
  const byType = type ? ADAPTERS.find((a) => a.modelTypes.includes(type)) : undefined;
  if (byType) return byType;
  const supported = ADAPTERS.flatMap((a) => a.architectures).join(", ");
  throw new ModelError(
    "unsupported-architecture",
    config.file,
    `architecture ${arch ?? "(none)"} (model_type ${type ?? "(none)"}) is not supported; supported: ${supported}`,
  );
}
