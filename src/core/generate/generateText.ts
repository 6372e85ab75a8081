/**
 * `generateText(model, prompt, …)`: the prompt through the model's tokenizer (BOS first when the
 * tokenizer or config has one, as transformers.js' tokenizer adds it), a KV-cache generation
 * (`Generator`), the continuation decoded and streamed as text as tokens arrive. With a ratio or a
 * plan the shared model runs (a plan applied in memory to the dense checkpoint); a compact
 * checkpoint runs as compact.
 */
import { openCheckpoint } from "../model/checkpoint";
import { loadTokenizer } from "../eval/tokenizer";
import { resolvePlan, type PlanChoice } from "../export/plan";
import type { SharingPlan } from "../share/types";
import type { ProviderName } from "../runtime/ort";
import { Generator, type Generation } from "./generator";

export interface GenerateTextOptions extends PlanChoice {
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  readonly threads?: number;
  /** The new text since the last call (decoded from all new ids, so multi-byte tokens come out whole). */
  readonly onText?: (delta: string, tokens: number) => void;
}

export interface TextGeneration extends Generation {
  readonly promptIds: number[];
  readonly text: string;
  readonly plan?: SharingPlan;
  readonly provider: ProviderName;
  /** Seconds to open the model and load its weights. */
  readonly loadSeconds: number;
}

export async function generateText(model: string, prompt: string, o: GenerateTextOptions): Promise<TextGeneration> {
  const t0 = performance.now();
  const ckpt = await openCheckpoint(model);
  try {
    const tok = await loadTokenizer(ckpt.dir);
    const bos = tok.bosTokenId ?? ckpt.spec.bosTokenId;
    const promptIds = [...(bos !== undefined ? [bos] : []), ...tok.encode(prompt)];
    const { plan } = await resolvePlan(ckpt, o);
    const gen = await Generator.create(ckpt, {
      ...(plan && !ckpt.compact ? { plan } : {}),
      ...(o.providers ? { providers: o.providers } : {}),
      ...(o.threads ? { threads: o.threads } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const loadSeconds = (performance.now() - t0) / 1000;
    try {
      const ids: number[] = [];
      let shown = "";
      const r = await gen.generate(promptIds, {
        maxTokens: o.maxTokens,
        ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
        ...(o.topP !== undefined ? { topP: o.topP } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        onToken: (id) => {
          ids.push(id);
          if (!o.onText) return;
          const text = tok.decode(ids);
          // hold back a trailing replacement char: the rest of a multi-byte character is still coming
          const stable = text.endsWith("\uFFFD") ? text.slice(0, -1) : text;
          if (stable.length > shown.length && stable.startsWith(shown)) {
            o.onText(stable.slice(shown.length), ids.length);
            shown = stable;
          }
        },
      });
      const text = tok.decode(r.ids);
      if (o.onText && text.length > shown.length && text.startsWith(shown)) o.onText(text.slice(shown.length), r.ids.length);
      return { ...r, promptIds, text, ...(plan && plan.selected > 0 ? { plan } : {}), provider: gen.provider, loadSeconds };
    } finally {
      await gen.release();
    }
  } finally {
    await ckpt.close();
  }
}
