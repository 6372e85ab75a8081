/**
 * The tokenizer thread's entry (bundled alone as tokenizerThread.js; started by tokenizerLimit.ts).
 * Builds the tokenizer from the parsed tokenizer.json / tokenizer_config.json in workerData, then
 * answers encode/decode requests on its port; after each answer it stores the request's sequence
 * number in the shared flag and notifies, so the caller can wait synchronously with a deadline and
 * terminate this thread (V8 interrupts a running regex) when tokenizing does not finish in time.
 */
import { workerData, type MessagePort } from "node:worker_threads";
import { Tokenizer } from "@huggingface/tokenizers";
import { splitLongBpeWords } from "./bpeSplit";
import type { ThreadInput, ThreadReply, ThreadRequest } from "./tokenizerLimit";

function serve(input: ThreadInput): void {
  const flag = new Int32Array(input.flag); // [1] last answered sequence number
  const port: MessagePort = input.port;
  const answer = (m: ThreadReply): void => {
    port.postMessage(m, m.ok && m.ids ? [m.ids.buffer as ArrayBuffer] : []);
    Atomics.store(flag, 0, m.seq);
    Atomics.notify(flag, 0);
  };
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(input.json, input.config);
    splitLongBpeWords((tok as unknown as { model: unknown }).model);
  } catch (e) {
    answer({ seq: 1, ok: false, message: e instanceof Error ? e.message : String(e) });
    return;
  }
  answer({ seq: 1, ok: true });
  port.on("message", (m: ThreadRequest) => {
    try {
      if (m.op === "encode") answer({ seq: m.seq, ok: true, ids: Int32Array.from(tok.encode(m.text, { add_special_tokens: false }).ids) });
      else answer({ seq: m.seq, ok: true, text: m.ids.length ? tok.decode([...m.ids], { skip_special_tokens: true }) : "" });
    } catch (e) {
      answer({ seq: m.seq, ok: false, message: e instanceof Error ? e.message : String(e) });
    }
  });
}

if (workerData && typeof workerData === "object" && "flag" in workerData) serve(workerData as ThreadInput);
