// HeadRows: the head's rows chunk by chunk in two reused slots equal readRowsF32 bit for bit —
// F32, F16 and BF16; chunks of 1 MiB and more (O_DIRECT where the file system has it) and smaller
// ones (ordinary reads); a shorter last chunk; and chunk k stays valid while chunk k + 1 is read.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { writeSafetensors } from "../src/core/safetensors/writer";
import { openSafetensors } from "../src/core/safetensors/reader";
import { f32ToBytes } from "../src/core/safetensors/dtype";
import { HeadRows } from "../src/core/eval/headRows";
import type { TensorSource } from "../src/core/safetensors/types";
import { DirectReader } from "../src/core/safetensors/directRead";

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

for (const dtype of ["BF16", "F16", "F32"] as const)
  for (const [V, d, chunk] of [
    [5000, 256, 2304], // BF16: 1.1 MiB chunks (direct), a last chunk of 392 rows
    [300, 16, 128], // small chunks: ordinary reads, a last chunk of 44 rows
  ] as const)
    test(`eval-head-rows: ${dtype} [${V}, ${d}] in chunks of ${chunk} = readRowsF32 (bits); chunk k valid while k + 1 is read`, async () => {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-head-rows-"));
      try {
        let st = 5;
        const values = new Float32Array(V * d).map(() => {
          st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
          return st / 2 ** 31 - 1; // [V, d] f32 in [-1, 1)
        });
        const file = path.join(dir, "head.safetensors");
        // a small tensor first, so that the head's bytes start at an odd-sized offset in the file
        await writeSafetensors(file, [
          { name: "bias", dtype: "F32", shape: [3], data: f32ToBytes(new Float32Array([1, 2, 3]), "F32") },
          { name: "lm_head.weight", dtype, shape: [V, d], data: f32ToBytes(values, dtype) },
        ]);
        const src = await openSafetensors(file);
        try {
          let direct = 0;
          const spy: TensorSource = Object.assign(Object.create(src) as TensorSource, {
            readBytesDirect: async (n: string, r: Uint8Array, b?: number, e?: number) => {
              const got = await src.readBytesDirect!(n, r, b, e);
              if (got) direct++;
              return got;
            },
          });
          const head = new HeadRows(spy, "lm_head.weight", chunk);
          let ahead: Promise<Float32Array> | undefined;
          let chunks = 0;
          for (let v0 = 0; v0 < V; v0 += chunk) {
            const v1 = Math.min(v0 + chunk, V);
            const rows = await (ahead ?? head.read(v0, v1)); // [v1 - v0, d] f32
            const want = await src.readRowsF32("lm_head.weight", v0, v1);
            const next = v1 < V ? head.read(v1, Math.min(v1 + chunk, V)) : undefined;
            await next; // read into the other slot: this chunk's rows are unchanged
            assert.equal(rows.length, (v1 - v0) * d);
            assert.ok(bits(rows).equals(bits(want)), `rows [${v0}, ${v1}) equal readRowsF32's`);
            ahead = next;
            chunks++;
          }
          assert.equal(chunks, Math.ceil(V / chunk));
          // where the file system has O_DIRECT, the chunks of 1 MiB and more were read directly
          const reader = await DirectReader.open(file);
          await reader?.close();
          const big = (n: number): boolean => n * d * (dtype === "F32" ? 4 : 2) >= 1 << 20;
          const expected = reader ? Array.from({ length: chunks }, (_, k) => Math.min(chunk, V - k * chunk)).filter(big).length : 0;
          assert.equal(direct, expected, "direct reads");
          await assert.rejects(() => head.read(0, chunk + 1), /exceed the chunk/);
        } finally {
          await src.close();
        }
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    });
