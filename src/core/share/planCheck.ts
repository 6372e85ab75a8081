/**
 * What `inspect` says about a compact checkpoint's plan: the same check `expand` runs
 * (checkCompactPlan), so a plan that expand would refuse is never shown as fine.
 */
import { openCheckpoint } from "../model/checkpoint";
import { checkCompactPlan } from "./write";

/** Why the compact plan of `input` is invalid; null when it is valid, absent, or the model view cannot be built (inspect reports that separately). */
export async function compactPlanProblem(input: string): Promise<string | null> {
  let ckpt;
  try {
    ckpt = await openCheckpoint(input);
  } catch {
    return null;
  }
  try {
    if (!ckpt.compact) return null;
    checkCompactPlan(ckpt);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await ckpt.close();
  }
}
