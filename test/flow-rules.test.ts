// Pure rules of the UI flow (issue 17): the ratio prompt's parsing and limits, and the one progress text.
import test from "node:test";
import assert from "node:assert/strict";
import { maxRatioOf, parseRatio } from "../src/extension/checkInput";
import { describeProgress, duration, timeLeft } from "../src/extension/progressText";

test("flow rules: the ratio prompt accepts 0.3 and 30%, refuses out-of-range values with the model's maximum as a number", () => {
  assert.equal(maxRatioOf(5), 0.8);
  assert.equal(maxRatioOf(4), 0.75);
  assert.equal(maxRatioOf(3), 0.66); // 2/3 rounded down to a percent
  assert.equal(parseRatio("0.3", 0.8), 0.3);
  assert.equal(parseRatio("30%", 0.8), 0.3);
  assert.equal(parseRatio(" 30 % ", 0.8), 0.3);
  assert.equal(parseRatio("0", 0.8), 0);
  assert.equal(parseRatio("80%", 0.8), 0.8);
  assert.match(parseRatio("0.9", 0.8) as string, /90% is above this model's maximum of 80%/);
  assert.match(parseRatio("81%", 0.8) as string, /maximum of 80%/);
  assert.match(parseRatio("30", 0.8) as string, /did you mean 30%\?/);
  assert.match(parseRatio("-0.1", 0.8) as string, /not a ratio/);
  assert.match(parseRatio("abc", 0.8) as string, /not a ratio/);
  assert.match(parseRatio("", 0.8) as string, /not a ratio/);
});

test("flow rules: one progress text (phase, percent, time left) for the status bar, its tooltip, the notification and the panels", () => {
  assert.equal(describeProgress("scoring", null, 5000), "scoring");
  assert.equal(describeProgress("scoring", 0.5, 500), "scoring 50%", "no estimate in the first 1.5 s");
  assert.equal(describeProgress("scoring", 0.01, 5000), "scoring 1%", "no estimate below 3 %");
  assert.equal(describeProgress("scoring", 0.25, 6000), "scoring 25% · about 18 s left");
  assert.equal(timeLeft(1, 6000), null);
  assert.equal(duration(95_000), "2 min");
  assert.equal(duration(2 * 3600_000 + 5 * 60_000), "2 h 05 min");
});
