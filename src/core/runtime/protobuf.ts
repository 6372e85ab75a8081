/**
 * A minimal protobuf writer (varints, length-delimited fields): just enough to encode the small
 * ONNX ModelProtos that `gemmModel.ts` builds. Field numbers follow onnx/onnx.proto3.
 */
export class ProtoWriter {
  private readonly parts: number[] = [];

  /** Wire type 0: unsigned varint (numbers up to 2^53). */
  varint(field: number, value: number): this {
    this.tag(field, 0);
    this.rawVarint(value);
    return this;
  }

  /** Wire type 2: a UTF-8 string. */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Wire type 2: raw bytes (or an embedded message's encoding). */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(value.length);
    for (let i = 0; i < value.length; i++) this.parts.push(value[i]!);
    return this;
  }

  /** Wire type 2: an embedded message. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const w = new ProtoWriter();
    build(w);
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  private rawVarint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`protobuf varint out of range: ${value}`);
    let v = value;
    while (v >= 0x80) {
      this.parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.parts.push(v);
  }
}
