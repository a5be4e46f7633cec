/**
 * The central reference: the whole community as one QP (central-model.ts), solved by the HiGHS
 * adapter (cutting planes over dual simplex, docs/optimizer.md) with SCS as its rescue. Never throws.
 */
import { createHighsAdapter } from '../highs-adapter.ts';
import { extractPlan } from '../plan.ts';
import { createScsAdapter } from '../scs-adapter.ts';
import { buildCentralModel, type CentralModel } from './central-model.ts';
import { failedCommunityResult, type CommunityProblem, type CommunityResult } from './types.ts';

export async function solveCommunityCentral(problem: CommunityProblem, options: { timeBudgetMs?: number } = {}): Promise<CommunityResult> {
  const started = performance.now();
  const failed = (status: CommunityResult['status'], message: string): CommunityResult => failedCommunityResult(status, message, started);
  let central: CentralModel;
  try {
    central = buildCentralModel(problem);
  } catch (error) {
    return failed('error', error instanceof Error ? error.message : String(error));
  }
  const adapter = createHighsAdapter({ rescue: createScsAdapter() });
  try {
    const result = await adapter.solve(central.model, undefined, options.timeBudgetMs ?? 60_000);
    if (result.status !== 'optimal' || !result.x || !result.rowDual) {
      return failed(result.status === 'optimal' ? 'numerical' : result.status, `${adapter.name}: ${result.message}`);
    }
    const { x, rowDual } = result;
    const solveMs = performance.now() - started;
    const plans = problem.households.map((input, n) => {
      const h = central.households[n]!;
      return extractPlan(
        input,
        h.model,
        x.subarray(h.colOffset, h.colOffset + h.model.numCols),
        rowDual.subarray(h.rowOffset, h.rowOffset + h.model.numRows),
        problem.startMs ?? 0,
        { name: result.solvedBy ?? `${adapter.name}:community`, status: 'optimal', solveMs, ...(result.iterations !== undefined ? { iterations: result.iterations } : {}), warmStart: false },
      );
    });
    const { peak, peakRows, cvar } = central.community;
    const communityPeakByDayKw = Array.from(x.subarray(peak.start, peak.start + peak.length));
    const chargeEur = communityPeakByDayKw.reduce((s, v) => s + v, 0) * problem.terms.peakChargeEurPerKwDay;
    // ∂(optimum)/∂(S_t): S_t sits on the left of the peak row and of every sample row of step t
    // with coefficient −1, so one more kW imported at t is one more unit of their right-hand sides.
    const stepHours = problem.households[0]!.stepHours;
    const I = cvar ? cvar.sigma.length : 0;
    const couplingPriceEurPerKwh = stepHours.map((h, t) => {
      let dual = rowDual[peakRows.start + t]!;
      for (let i = 0; i < I; i++) dual += rowDual[cvar!.sampleRows.start + t * I + i]!;
      return dual / h;
    });
    return {
      ok: true,
      status: 'optimal',
      message: result.message,
      plans,
      communityPeakByDayKw,
      objectiveEur: plans.reduce((s, p) => s + p.objectiveEur, 0) + chargeEur,
      couplingPriceEurPerKwh,
      solveMs,
    };
  } catch (error) {
    return failed('error', `community solve failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    adapter.dispose();
  }
}
