/**
 * zod schemas of the DirectShare data types (src/core/share/types.ts) for the worker and webview
 * boundaries. A match table and a sharing plan are validated by the core's own parsers
 * (`parseMatchTable`, `parseSharingPlan`), wrapped here: one set of rules, one set of messages.
 */
import * as z from "zod";
import { GRANULARITIES } from "../core/model/types";
import { MatchTableError, PlanError } from "../core/share/errors";
import { parseMatchTable } from "../core/share/matchTable";
import { parseSharingPlan } from "../core/share/planJson";
import { STRATEGIES, type MatchTable, type SharingPlan } from "../core/share/types";

export const strategySchema = z.enum(STRATEGIES);
export const granularitySchema = z.enum(GRANULARITIES);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Runs a core parser; its typed error becomes one zod issue (the parser's message, without the "where: " prefix). */
function parsedBy<T>(parse: (json: unknown) => T, errorClass: typeof MatchTableError | typeof PlanError, prefix: string) {
  return (v: unknown, ctx: z.core.$RefinementCtx<T>): T => {
    try {
      return parse(v);
    } catch (e) {
      if (!(e instanceof errorClass)) throw e;
      ctx.addIssue({ code: "custom", message: e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message });
      return z.NEVER;
    }
  };
}

const TABLE = "match table";
/** A match table in our format (`"format": "headshare.match"`; the paper's format is read from files only), checked by `parseMatchTable`. */
export const matchTableSchema = z
  .custom<MatchTable>((v) => isObject(v) && v.format === "headshare.match", { message: 'expected a match table ("format": "headshare.match")' })
  .transform(parsedBy((v) => parseMatchTable(v, TABLE), MatchTableError, `${TABLE}: `));

const PLAN = "sharing plan";
/** A sharing plan (`"format": "headshare.plan"`), checked by `parseSharingPlan`. */
export const sharingPlanSchema = z
  .custom<SharingPlan>((v) => isObject(v) && v.format === "headshare.plan", { message: 'expected a sharing plan ("format": "headshare.plan")' })
  .transform(parsedBy((v) => parseSharingPlan(v, PLAN), PlanError, `${PLAN}: invalid sharing plan: `));
