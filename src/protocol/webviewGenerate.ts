/** The "Generate" section of the sharing map and the report (src/webview/generateView.ts ⇄ src/extension/panels/generateHost.ts). */
import * as z from "zod";

export const generateRequestSchema = z.object({
  prompt: z.string().min(1).max(10_000),
  maxTokens: z.number().int().min(1).max(2048),
  /** 0 = greedy; else sampled with `seed` (the same seed for both models). */
  temperature: z.number().min(0).max(10),
  topP: z.number().gt(0).max(1),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  /** The sharing ratio (the map's slider); the report uses its own shared model and ignores it. */
  ratio: z.number().min(0).max(1),
});

export const generatedTextSchema = z.object({
  text: z.string().max(200_000),
  tokens: z.number().int().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  stop: z.enum(["eos", "max-tokens", "context"]),
});

export const generateResponseSchema = z.object({ original: generatedTextSchema, shared: generatedTextSchema, sharedLabel: z.string().max(500) });

/** Streamed while generating: the text so far of one side (its last 2,000 characters). */
export const generatedEventSchema = z.object({
  side: z.enum(["original", "shared"]),
  text: z.string().max(4000),
  tokens: z.number().int().nonnegative(),
});

export type GenerateRequest = z.infer<typeof generateRequestSchema>;
export type GenerateResponse = z.infer<typeof generateResponseSchema>;
export type GeneratedEvent = z.infer<typeof generatedEventSchema>;
