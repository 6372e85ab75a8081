/**
 * zod probes `new Function("")` to decide whether to compile its object parsers; the webview's CSP forbids
 * eval, so the probe would be reported as a CSP violation. Tell zod up front. Imported first by main.ts.
 */
import * as z from "zod";

z.config({ jitless: true });
