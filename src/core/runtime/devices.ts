/**
 * The compute devices of this machine, for "Headshare: Select Compute Device" and `headshare
 * devices`: every execution provider this platform could use, whether it works (checked with a
 * one-Gemm session, not assumed), its GPU adapter, why not when it does not, and what `auto` picks.
 */
import { outsideComputeLog } from "./computeLog";
import { gemmTransBModel } from "./gemmModel";
import { createSession, defaultProviders, precheck, Tensor } from "./ort";
import { webGpuProbe } from "./adapter";
import type { ComputeDevice, ComputeDevices, ProviderName } from "./types";

export type { ComputeDevice, ComputeDevices };

/** [[1,2],[3,4]] · itselfᵀ on exactly `provider`: the session must run and agree. */
async function works(provider: ProviderName): Promise<string | undefined> {
  try {
    const s = await createSession(gemmTransBModel(), { providers: [provider], label: "device check" });
    try {
      if (s.provider !== provider) return s.skipped.find((k) => k.provider === provider)?.reason ?? `fell back to ${s.provider}`;
      const a = new Tensor("float32", Float32Array.from([1, 2, 3, 4]), [2, 2]);
      const c = Array.from((await s.session.run({ A: a, B: a })).C!.data as Float32Array);
      return [5, 11, 11, 25].every((x, i) => Math.abs(c[i]! - x) < 1e-4) ? undefined : `a test product came out wrong (${c.join(", ")})`;
    } finally {
      await s.session.release();
    }
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export function computeDevices(platform: NodeJS.Platform = process.platform): Promise<ComputeDevices> {
  return outsideComputeLog(async () => {
    const order = [...new Set<ProviderName>([...defaultProviders(platform), "webgpu", "cpu"])];
    const devices: ComputeDevice[] = [];
    for (const provider of order) {
      const pre = await precheck(provider, false);
      if ("skip" in pre) {
        devices.push({ provider, available: false, reason: pre.skip });
        continue;
      }
      const why = await works(provider);
      if (why) {
        devices.push({ provider, available: false, reason: why });
        continue;
      }
      const autoSkip = pre.adapter?.software ? "a software adapter: auto never picks it" : undefined;
      devices.push({ provider, available: true, ...(pre.adapter ? { adapter: pre.adapter } : {}), ...(autoSkip ? { reason: autoSkip } : {}) });
    }
    const auto = await createSession(gemmTransBModel(), { providers: "auto", label: "device check" });
    await auto.session.release();
    const probe = await webGpuProbe();
    return {
      devices,
      auto: { provider: auto.provider, ...(auto.adapter ? { adapter: auto.adapter } : {}), skipped: [...auto.skipped] },
      adapters: [...probe.adapters],
    };
  });
}
