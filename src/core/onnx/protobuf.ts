/**
 * A minimal protobuf writer: just enough wire format (varint, 32-bit, length-delimited) to encode
 * ONNX ModelProto messages. A message is built field by field into a list of chunks; nested
 * messages are finished to bytes and written as length-delimited fields.
 */

const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

const utf8 = new TextEncoder();

/** Bytes of a varint; negative numbers are written as 64-bit two's complement (10 bytes). */
function varintBytes(value: number | bigint): Uint8Array {
  let v = typeof value === "bigint" ? value : BigInt(value);
  if (v < 0n) v = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** Small fast path for non-negative safe integers. */
function varintSmall(value: number): Uint8Array {
  if (value < 0 || value > 0x7fffffff) return varintBytes(value);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Uint8Array.from(out);
}

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private key(field: number, wire: number): void {
    this.push(varintSmall((field << 3) | wire));
  }

  /** int32/int64/enum/bool field (varint). */
  int(field: number, value: number | bigint): this {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new RangeError(`protobuf: field ${field} needs an integer, got ${value}`);
    }
    this.key(field, WIRE_VARINT);
    this.push(varintBytes(value));
    return this;
  }

  /** float field (fixed 32-bit little-endian). */
  float(field: number, value: number): this {
    this.key(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  /** bytes field. The array is referenced, not copied, until `finish`. */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, WIRE_LEN);
    this.push(varintSmall(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** Embedded message field. */
  message(field: number, inner: ProtoWriter): this {
    return this.bytes(field, inner.finish());
  }

  /** The encoded message. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}
