/**
 * The WebAssembly subset the Node code uses (src/core/share/bf16wasm.ts). The browser program gets
 * WebAssembly from lib "DOM"; the Node programs have no DOM, and @types/node 20 does not declare it.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: ArrayBuffer | ArrayBufferView);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
    grow(deltaPages: number): number;
  }
}
