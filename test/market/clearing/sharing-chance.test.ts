/**
 * The community clearing over MQTT WITH the community import chance family (runSharing on signed
 * MarketNodes over the embedded aedes broker, real solves): the leader names the joint samples'
 * days, each household answers on its own errors of those days (a real ErrorSampleStore), and the
 * outcome is the in-process solveCommunityDistributed of the same joint samples with the same
 * sample-free coordinator bounds — to the bit, as the arithmetic is the same; the plans keep the
 * community's joint chance constraint on the samples. A household that lacks a named day still
 * clears, on its own nearest trajectory; a leader's round message that is oversized or malformed
 * is refused by every follower. And the fit rule keeps the worst-case round message below 16 KiB.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectAsync } from 'mqtt';
import { ErrorSampleStore } from '../../../src/forecast/error-store.ts';
import { DAY_MS, HOUR_MS } from '../../../src/data/households.ts';
import { Membership } from '../../../src/market/community.ts';
import { DEFAULT_LIMITS, MessageCodec } from '../../../src/market/messages.ts';
import { marketNodeChannel, roundSchemas } from '../../../src/market/clearing/rounds.ts';
import { sharingHousehold, type ErrorDays } from '../../../src/market/clearing/sharing-household.ts';
import { agreedTerms, runSharing, wireSampleCount, type SharingOutcome, type SharingSpec } from '../../../src/market/clearing/sharing-rounds.ts';
import { encodeVector } from '../../../src/market/clearing/wire-vector.ts';
import { coordinatorTerms, floorJointSamples, sharingSettings, solveCommunityDistributed, type CommunityProblem, type DistributedResult } from '../../../src/optimizer/community/index.ts';
import type { MarketNode } from '../../../src/market/index.ts';
import type { Plan } from '../../../src/optimizer/types.ts';
import { systemClock } from '../../../src/time/clock.ts';
import { canonicalJson } from '../../../src/market/canonical-json.ts';
import { generateIdentity, signBytes } from '../../../src/market/identity.ts';
import { topicFor } from '../../../src/market/topics.ts';
import { syntheticCommunity } from '../../optimizer/community/instances.ts';
import { embeddedBroker, TestCommunity, type TestBroker } from '../fixtures.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

// 3 households, T = 8 hourly steps from 14:00, I = 4 joint samples, two billing days, a sunk peak.
const problem = syntheticCommunity({ households: 3, steps: 8, samples: 4, startHour: 14, chance: true, peakSoFarKw: [1.5, 0] });
const ids = ['h1', 'h2', 'h3'];
const T = 8;
const settings = sharingSettings();
const spec: SharingSpec = { terms: coordinatorTerms(problem.terms), stepHours: problem.households[0]!.stepHours, settings };
/** The clearing's first step; sample i of every household was issued i + 1 days before, at the same hour. */
const atMs = Date.UTC(2016, 6, 1, 14);
const dayOf = (i: number) => atMs - (i + 1) * DAY_MS;
const net = (plan: Plan) => plan.gridImportKw.map((g, t) => g - plan.gridExportKw[t]!);

/** Household n's error store: its sample i on day i, except `missing` days; `extra` older trajectories (days 4, 5, ..) of its own. */
function errorDaysOf(n: number, options: { missing?: number[]; extra?: number[][] } = {}): ErrorDays {
  const store = new ErrorSampleStore(T);
  problem.households[n]!.errorSamplesKw.forEach((errorKw, i) => options.missing?.includes(i) || store.add({ issuedMs: dayOf(i), errorKw }));
  options.extra?.forEach((errorKw, k) => store.add({ issuedMs: dayOf(4 + k), errorKw }));
  return { nearest: (count) => store.samples(atMs, count).map((s) => s.issuedMs), on: (days) => store.onDays(atMs, days).map((s) => s.errorKw) };
}

/** The in-process clearing of the same households on these joint samples (I × N × T), coordinator bounds as over MQTT. */
function inProcess(jointSamplesKw: number[][][]): Promise<DistributedResult> {
  const p: CommunityProblem = { ...problem, terms: { ...problem.terms, chance: { ...problem.terms.chance!, jointSamplesKw } } };
  return solveCommunityDistributed(p, { ...settings, chanceBounds: 'connection' });
}

let reference: DistributedResult;
beforeAll(async () => {
  reference = await inProcess(problem.terms.chance!.jointSamplesKw);
  expect(reference.ok).toBe(true);
});

let broker: TestBroker | undefined;
let community: TestCommunity | undefined;
const disposers: (() => void)[] = [];
afterEach(async () => {
  await community?.close(broker?.url);
  await broker?.close();
  for (const dispose of disposers.splice(0)) dispose();
  community = undefined;
  broker = undefined;
});

async function gateways(): Promise<MarketNode[]> {
  broker = await embeddedBroker();
  community = new TestCommunity(ids);
  return Promise.all(ids.map((id) => community!.startNode(id, broker!.url, { roundSchemas })));
}

function clear(node: MarketNode, clearing: string, errorDays: ErrorDays): Promise<SharingOutcome | null> {
  const n = ids.indexOf(node.id);
  const household = sharingHousehold(problem.households[n]!, errorDays, settings, 0);
  disposers.push(household.dispose);
  return runSharing(marketNodeChannel(node), household, spec, { clearing, peerIds: ids, roundTimeoutMs: 10_000 });
}

/** Every household's plan and the prices are the in-process clearing's, bit for bit (same solves, same order, same coordinator). */
function expectSame(outcomes: (SharingOutcome | null)[], expected: DistributedResult): void {
  for (const [n, outcome] of outcomes.entries()) {
    expect(outcome, ids[n]).not.toBeNull();
    expect(outcome!.sampleCount).toBe(4);
    expect(outcome!.participants).toEqual(ids);
    expect(outcome!.rounds).toBe(expected.rounds);
    expect(outcome!.converged).toBe(expected.converged);
    expect(net(outcome!.plan)).toEqual(net(expected.plans[n]!));
    expect(outcome!.plan.decisionRule).toEqual(expected.plans[n]!.decisionRule);
    expect(outcome!.couplingPriceEurPerKwh).toEqual(expected.couplingPriceEurPerKwh);
  }
}

describe('the community clearing with the community import chance family over MQTT (embedded broker)', () => {
  it('three gateways on the days the leader names reach the in-process result, and keep the joint chance constraint', async () => {
    const nodes = await gateways();
    const outcomes = await Promise.all(nodes.map((node, n) => clear(node, 'chance-1', errorDaysOf(n))));
    expectSame(outcomes, reference);
    // Joint check on the samples: the community peak the plans need (the clearing's feasible point)
    // covers Σ_n (1 − β)ξ̂ⁱ at every step on all but at most ε·I samples (CVaR ≤ 0 implies it).
    const plans = outcomes.map((o) => o!.plan);
    const samples = floorJointSamples(problem.terms);
    const { dayOfStep, chance } = problem.terms;
    const violated = samples.filter((sample) =>
      dayOfStep.some((d, t) => plans.reduce((s, p, n) => s + (1 - p.decisionRule[t]!) * sample[n]![t]! + net(p)[t]!, 0) > reference.communityPeakByDayKw[d]! + 1e-6),
    ).length;
    expect(violated / samples.length).toBeLessThanOrEqual(chance!.epsilon);
  });

  it('a household that lacks one of the named days clears on its own nearest trajectory instead', async () => {
    // h3 has no trajectory of day 1, but an older one of its own (day 4): it stands in for day 1.
    const own = problem.households[2]!.errorSamplesKw;
    const olderKw = own[0]!.map((v, t) => 0.5 * v - 0.1 * own[3]![t]!);
    const substituted = problem.terms.chance!.jointSamplesKw.map((sample, i) => (i === 1 ? [sample[0]!, sample[1]!, olderKw] : sample));
    const expected = await inProcess(substituted);
    // The stand-in matters: the clearing on it is not the one on the named days.
    expect(net(expected.plans[2]!)).not.toEqual(net(reference.plans[2]!));
    const nodes = await gateways();
    const outcomes = await Promise.all(nodes.map((node, n) => clear(node, 'chance-2', n === 2 ? errorDaysOf(2, { missing: [1], extra: [olderKw] }) : errorDaysOf(n))));
    expectSame(outcomes, expected);
  });

  it('after the leader leaves mid-clearing, the next one names its own days and clears the other two from round 1', async () => {
    const nodes = await gateways();
    const abort = new AbortController();
    let heard = 0;
    const stop = nodes[1]!.on('round', (envelope) => {
      if (envelope.from === 'h1' && envelope.body.name === 'sharing-round' && ++heard === 3) {
        abort.abort(new Error('gateway stopped'));
        void nodes[0]!.stop();
      }
    });
    // h2's own most similar days are other ones: its samples 1, 0, 3 (h3 has them too, as days 1, 0, 3).
    const shuffled = (n: number): ErrorDays => {
      const store = new ErrorSampleStore(T);
      [1, 0, 3].forEach((i, k) => store.add({ issuedMs: dayOf(k), errorKw: problem.households[n]!.errorSamplesKw[i]! }));
      return { nearest: (count) => store.samples(atMs, count).map((s) => s.issuedMs), on: (days) => store.onDays(atMs, days).map((s) => s.errorKw) };
    };
    const leaver = sharingHousehold(problem.households[0]!, errorDaysOf(0), settings, 0);
    disposers.push(leaver.dispose);
    const [h1, h2, h3] = await Promise.allSettled([
      runSharing(marketNodeChannel(nodes[0]!), leaver, spec, { clearing: 'chance-4', peerIds: ids, roundTimeoutMs: 2_000, signal: abort.signal }),
      ...[1, 2].map((n) => {
        const household = sharingHousehold(problem.households[n]!, shuffled(n), settings, 0);
        disposers.push(household.dispose);
        return runSharing(marketNodeChannel(nodes[n]!), household, spec, { clearing: 'chance-4', peerIds: ids, roundTimeoutMs: 2_000 });
      }),
    ]);
    stop();
    expect(h1.status).toBe('rejected');
    const two: CommunityProblem = { households: problem.households.slice(1), terms: { ...problem.terms, chance: { ...problem.terms.chance!, jointSamplesKw: [1, 0, 3].map((i) => problem.terms.chance!.jointSamplesKw[i]!.slice(1)) } } };
    const expected = await solveCommunityDistributed(two, { ...settings, chanceBounds: 'connection' });
    for (const [k, settled] of [h2, h3].entries()) {
      const outcome = (settled as PromiseFulfilledResult<SharingOutcome | null>).value!;
      expect(outcome.leader).toBe('h2');
      expect(outcome.participants).toEqual(['h2', 'h3']);
      expect(outcome.sampleCount).toBe(3);
      expect(outcome.rounds).toBe(expected.rounds);
      expect(net(outcome.plan)).toEqual(net(expected.plans[k]!));
      expect(outcome.couplingPriceEurPerKwh).toEqual(expected.couplingPriceEurPerKwh);
    }
  });

  it("a leader's round message that is oversized or malformed is refused by every follower", async () => {
    const nodes = await gateways();
    const fake = { clearing: 'chance-3', round: 2, participants: ids, terms: agreedTerms(spec.terms), penaltyEurPerKw2: 1, scaledPrice: encodeVector(new Array<number>(5 * T).fill(1)), shareShiftKw: encodeVector(new Array<number>(5 * T).fill(5)), lipschitz: 1, lipschitzScaledPrice: [0, 0, 0], sampleDaysMs: [0, 1, 2, 3].map(dayOf), lipschitzPriced: true, done: true, converged: true };
    // Signed with the leader's own key (a broken leader): too long, not a vector, or out of the vectors' ranges.
    const leaderKey = community!.identity('h1');
    const codec = new MessageCodec(new Membership(community!.config), systemClock, { ...DEFAULT_LIMITS, maxMessageBytes: 1 << 20 }, roundSchemas);
    const sealed = (payload: object) => codec.seal(leaderKey, 'round', { name: 'sharing-round', payload } as never, { lifetimeMs: 60_000, middle: 'sharing-round' });
    const oversized = sealed({ ...fake, scaledPrice: encodeVector(new Array<number>(5 * T).fill(0.1)), shareShiftKw: encodeVector(new Array<number>(2_000).fill(-1.2345678901234567e-7)) }).payload;
    const { sig: _sig, ...unsigned } = sealed(fake).envelope;
    const notAVector = { ...unsigned, body: { name: 'sharing-round', payload: { ...fake, scaledPrice: new Array<number>(5 * T).fill(1) } } };
    const malformed = Buffer.from(JSON.stringify({ ...notAVector, sig: signBytes(leaderKey, Buffer.from(canonicalJson(notAVector))) }));
    const outOfRange = sealed({ ...fake, scaledPrice: encodeVector(new Array<number>(5 * T).fill(1e12)) }).payload;
    const notANumber = sealed({ ...fake, shareShiftKw: encodeVector(new Array<number>(5 * T).fill(Number.NaN)) }).payload;
    expect(oversized.length).toBeGreaterThan(DEFAULT_LIMITS.maxMessageBytes);
    const raw = await connectAsync(broker!.url, { reconnectPeriod: 0 });
    const topic = topicFor(community!.config.communityId, 'round', 'h1', 'sharing-round');
    let heard = 0;
    const stop = nodes[1]!.on('round', (envelope) => {
      if (envelope.from === 'h1' && envelope.body.name === 'sharing-round' && ++heard === 2) for (const payload of [oversized, malformed, outOfRange, notANumber]) void raw.publishAsync(topic, payload, { qos: 1 });
    });
    try {
      expectSame(await Promise.all(nodes.map((node, n) => clear(node, 'chance-3', errorDaysOf(n)))), reference);
    } finally {
      stop();
      await raw.endAsync();
    }
    for (const follower of nodes.slice(1)) {
      expect(follower.rejections.oversized).toBeGreaterThanOrEqual(1);
      expect(follower.rejections.malformed).toBeGreaterThanOrEqual(1);
    }
  });

  it('names the evaluation\'s 20 samples at T = 24, and at most as many as a round message fits in the worst case, which the codec then sends', () => {
    expect(wireSampleCount(24, 4, 20)).toBe(20);
    expect(wireSampleCount(24, 4, 10)).toBe(10);
    expect(wireSampleCount(24, 50, 20)).toBe(19);
    expect(wireSampleCount(96, 4, 10)).toBe(6);
    const most = wireSampleCount(24, 4, 1_000);
    // The longest round the schemas allow at T = 24, N = 4: 64-character ids, every JSON number 24 characters.
    const identity = generateIdentity('p'.repeat(64));
    const codec = new MessageCodec(new Membership({ communityId: 'c'.repeat(64), members: [{ peerId: identity.peerId, publicKey: identity.publicKey }] }), systemClock, DEFAULT_LIMITS, roundSchemas);
    const longest = -1.2345678901234567e-300;
    const worst = (I: number) => ({
      clearing: 'c'.repeat(64),
      round: 50,
      participants: [0, 1, 2, 3].map((k) => `${k}`.repeat(64)),
      terms: { peakChargeEurPerKwDay: 1.2345678901234567e-300, chance: { epsilon: 1.2345678901234567e-300, radiusKw: 1.2345678901234567e-300 } },
      penaltyEurPerKw2: -longest,
      scaledPrice: encodeVector(new Array<number>(24 * (1 + I)).fill(longest)),
      shareShiftKw: encodeVector(new Array<number>(24 * (1 + I)).fill(longest)),
      lipschitz: -longest,
      lipschitzScaledPrice: new Array<number>(4).fill(longest),
      sampleDaysMs: Array.from({ length: I }, (_, i) => dayOf(i)),
      lipschitzPriced: true,
      done: false,
      converged: false,
    });
    const send = (I: number) => codec.seal(identity, 'round', { name: 'sharing-round', payload: worst(I) } as never, { lifetimeMs: HOUR_MS, middle: 'sharing-round' });
    expect(send(most).payload.length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxMessageBytes);
    // The bound's margin (ids, times and the envelope at their longest) costs at most one sample.
    expect(() => send(most + 2)).toThrow(/refusing to send/);
  });
});
