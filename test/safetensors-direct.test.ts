// Direct (O_DIRECT) reads of large tensors, as the layer-streamed eval's prefetch does them: the bytes
// equal the ordinary read's for tensors at odd, even and page-crossing file offsets and for regions at
// any offset of their buffer; nothing outside the lent region is written; the reused layer buffers
// widen a directly read tensor exactly (an odd start moved to the slot's start) and go back to
// ordinary reads; a file system without O_DIRECT (tmpfs) reads the ordinary way.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openSafetensors, writeSafetensors } from "../src/core/safetensors";
import { DIRECT_MIN_BYTES, DIRECT_PAD, DirectReader } from "../src/core/safetensors/directRead";
import { bf16BitsToNumber } from "../src/core/safetensors/dtype";
import { LayerBuffers } from "../src/core/eval/layerBuffers";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hs-direct-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function seeded(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

// "a" starts at data offset 3 (odd), "b" at an even offset, "c" is F32; "tiny" is under DIRECT_MIN_BYTES
const TENSORS = [
  { name: "small", dtype: "U8", shape: [3] },
  { name: "a", dtype: "BF16", shape: [700, 1000] },
  { name: "pad", dtype: "U8", shape: [1] },
  { name: "b", dtype: "BF16", shape: [600001] },
  { name: "c", dtype: "F32", shape: [300000] },
  { name: "tiny", dtype: "BF16", shape: [1000] },
] as const;
const SIZE = { U8: 1, BF16: 2, F32: 4 } as const;

async function writeModel(dir: string): Promise<string> {
  const file = path.join(dir, "model.safetensors");
  await writeSafetensors(
    file,
    TENSORS.map((t, i) => ({
      name: t.name,
      dtype: t.dtype,
      shape: [...t.shape],
      data: seeded((t.shape as readonly number[]).reduce((a, b) => a * b, 1) * SIZE[t.dtype], i + 1),
    })),
    { format: "pt" },
  );
  return file;
}

test("safetensors direct read: same bytes as the ordinary read, only the lent region written, tmpfs falls back", async (t) => {
  const file = await writeModel(tmp);
  const direct = await DirectReader.open(file);
  if (!direct) return t.skip(`no O_DIRECT for ${tmp} on this platform or file system: the ordinary read is used there`);
  await direct.close();
  const src = await openSafetensors(file);
  try {
    assert.equal(await src.readBytesDirect!("tiny", new Uint8Array(2000 + DIRECT_PAD)), undefined, "a tensor under DIRECT_MIN_BYTES reads the ordinary way");
    for (const name of ["a", "b", "c"]) {
      const want = await src.readBytes(name);
      assert.ok(want.byteLength >= DIRECT_MIN_BYTES);
      for (const at of [0, 16, 2050, 4080]) {
        const buf = new Uint8Array(at + want.byteLength + DIRECT_PAD + 64).fill(0xab);
        const region = buf.subarray(at, at + want.byteLength + DIRECT_PAD);
        const before = src.bytesRead;
        const got = await src.readBytesDirect!(name, region);
        assert.ok(got, `${name}: a direct read at region offset ${at}`);
        assert.ok(got.buffer === buf.buffer && got.byteOffset >= at && got.byteOffset + got.byteLength <= at + region.byteLength, "inside the region");
        assert.ok(Buffer.from(got).equals(Buffer.from(want)), `${name} at region offset ${at}: the bytes`);
        assert.ok(
          buf.subarray(0, at).every((x) => x === 0xab) && buf.subarray(at + region.byteLength).every((x) => x === 0xab),
          "nothing outside the region written",
        );
        const fromDisk = src.bytesRead - before;
        assert.ok(fromDisk >= want.byteLength && fromDisk <= want.byteLength + 2 * 4096, `counted ${fromDisk} bytes from disk for ${want.byteLength}`);
      }
    }
    await assert.rejects(src.readBytesDirect!("a", new Uint8Array(10)), /needs a region/);
  } finally {
    await src.close();
  }
  // tmpfs has no O_DIRECT: the ordinary read, said by undefined
  if (fs.existsSync("/dev/shm") && fs.statSync("/dev/shm").isDirectory()) {
    const shm = fs.mkdtempSync("/dev/shm/hs-direct-");
    try {
      const f = await writeModel(shm);
      if (await DirectReader.open(f)) return t.diagnostic("/dev/shm accepts O_DIRECT here; the fallback is not checked");
      const s = await openSafetensors(f);
      try {
        assert.equal(await s.readBytesDirect!("a", new Uint8Array(1_400_000 + DIRECT_PAD)), undefined);
      } finally {
        await s.close();
      }
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  }
});

test("eval layer buffers: a directly read BF16 tensor widens exactly (odd start moved), then ordinary reads again", async (t) => {
  const file = await writeModel(tmp);
  const src = await openSafetensors(file);
  try {
    const names = ["a", "b", "tiny"] as const;
    const values = names.map((n) => src.info(n).shape.reduce((x, y) => x * y, 1));
    const bytes = values.map((v) => 2 * v);
    const buffers = new LayerBuffers(bytes, values);
    assert.equal(buffers.region(2), undefined, "a small tensor's slot has no padding");
    for (const round of ["direct", "ordinary"]) {
      for (let i = 0; i < names.length; i++) {
        const region = buffers.region(i);
        const got = round === "direct" && region ? await src.readBytesDirect!(names[i]!, region) : undefined;
        if (round === "direct" && region && !got) return t.skip(`no O_DIRECT for ${tmp}: nothing direct to check`);
        if (got) buffers.place(i, got);
        else await src.readBytesInto!(names[i]!, buffers.reset(i));
        const raw = await src.readBytes(names[i]!);
        const h = new Uint16Array(raw.buffer, raw.byteOffset, values[i]!);
        const w = buffers.widen(i, "BF16");
        for (let k = 0; k < values[i]!; k++) if (w[k] !== bf16BitsToNumber(h[k]!) && !Number.isNaN(w[k])) assert.fail(`${round} ${names[i]}: value ${k}`);
        assert.ok(Buffer.from(buffers.view(i)).equals(Buffer.from(raw)), `${round} ${names[i]}: the view holds the bytes`);
      }
    }
  } finally {
    await src.close();
  }
});
