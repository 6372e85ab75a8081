// ESLint (flat config): typescript-eslint's recommended rules over src/, test/, bench/ and scripts/.
// Formatting is Prettier's (`npm run format`); `npm run lint` runs both checks.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** The Node globals the build and test scripts (plain .mjs) use. */
const nodeGlobals = Object.fromEntries(
  ["process", "console", "URL", "Buffer", "setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "structuredClone", "performance"].map(
    (g) => [g, "readonly"],
  ),
);

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "out/", ".vscode-runtime/", ".bench-cache/", "test-artifacts/", "assets/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // The code's convention: a leading underscore marks a deliberately unused name; `{ a, ...rest }` drops `a`.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      "@typescript-eslint/no-unused-expressions": ["error", { allowShortCircuit: true, allowTernary: true }],
      // `let x!: T` read by a closure before its one assignment cannot be const.
      // Prettier owns line breaks (as eslint-config-prettier: it may break `a\n[i]` inside a template literal).
      "no-unexpected-multiline": "off",
      // ESLint 10's addition flags initialisers such as `let chunk = 0` before a loop that assigns it; TypeScript's definite-assignment checks cover the real bugs.
      "no-useless-assignment": "off",
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // zod is imported as a namespace so the bundler keeps only the parts used (`import { z }` pulls in every locale).
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "ImportDeclaration[source.value='zod'][importKind!='type'] > :matches(ImportSpecifier[imported.name='z'][importKind!='type'], ImportDefaultSpecifier)",
          message: 'Use `import * as z from "zod"`: the `z` object defeats tree-shaking (every zod locale gets bundled).',
        },
      ],
    },
  },
  {
    // Tests read JSON loosely.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["**/*.mjs"],
    languageOptions: { globals: nodeGlobals },
  },
);
