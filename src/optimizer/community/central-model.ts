/**
 * The central community QP: every household's own model (buildModel, unchanged) as a diagonal block,
 * plus the community terms over the households' netGrid columns n = g⁺ − g⁻ and decision rules β,
 * and the λ rows of the community CVaR (λ ≥ 1 − β_{n,t} for every n, t). P stays diagonal, so the
 * HiGHS adapter solves it like a household model.
 */
import { buildModel, Builder, DEFAULT_MODEL_OPTIONS, type ModelOptions, type QpModel } from '../model.ts';
import { addCommunityTerms, floorJointSamples, type CommunityBlocks } from './community-terms.ts';
import { coordinatorTerms, type CommunityProblem } from './types.ts';
import { validateCommunity } from './validate.ts';

export interface CentralModel {
  model: QpModel;
  /** Each household's own model and where its columns and rows start in the joint one. */
  households: { model: QpModel; colOffset: number; rowOffset: number }[];
  community: CommunityBlocks;
}

export function buildCentralModel(problem: CommunityProblem, options: ModelOptions = DEFAULT_MODEL_OPTIONS): CentralModel {
  validateCommunity(problem);
  const b = new Builder();
  const households = problem.households.map((input, n) => {
    const model = buildModel(input, options);
    return { model, ...b.append(model, `h${n}:`) };
  });
  const col = (n: number, block: string, t: number): number => households[n]!.colOffset + households[n]!.model.cols[block]!.start + t;
  const samples = floorJointSamples(problem.terms);
  const community = addCommunityTerms(
    b,
    coordinatorTerms(problem.terms),
    (t) => ({ constant: 0, terms: households.map((_, n): [number, number] => [col(n, 'netGrid', t), 1]) }),
    // Y_{t,i} = Σ_n ξ̂ⁱ_{n,t} − Σ_n ξ̂ⁱ_{n,t} β_{n,t}
    (t, i) => ({
      constant: samples[i]!.reduce((s, xi) => s + xi[t]!, 0),
      terms: households.map((_, n): [number, number] => [col(n, 'decisionRule', t), -samples[i]![n]![t]!]),
    }),
  );
  if (community.cvar) {
    const lambda = community.cvar.lambda.start;
    const T = problem.terms.dayOfStep.length;
    const r = b.beginRows();
    for (let n = 0; n < households.length; n++) for (let t = 0; t < T; t++) b.row(1, Infinity, [[col(n, 'decisionRule', t), 1], [lambda, 1]]);
    b.endRows('communityImport:lambdaRows', r, households.length, T, 'inner');
  }
  return { model: { ...b.finish(), cvar: {}, samplesKw: [] }, households, community };
}
