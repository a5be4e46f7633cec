/**
 * The no-loss settlement on the wire (src/runtime/no-loss-link.ts): three members' links on real
 * brokers. The expected transfers are worked out by hand below from the settlement's rule: the
 * community charge split by import in the community's peak hour, for the real and the shadow fleet,
 * then each household at its bill alone less an equal share of the saving.
 */
import { describe, expect, it, vi } from 'vitest';
import type { MarketNode } from '../../src/market/index.ts';
import { emptyNoLossAccount } from '../../src/household/bill.ts';
import { NO_LOSS_ROUND_SCHEMAS, NoLossLink, type DayReport, type DaySettlement } from '../../src/runtime/no-loss-link.ts';
import { systemClock } from '../../src/time/clock.ts';
import { BROKERS, TestCommunity, type TestBroker } from '../market/fixtures.ts';

vi.setConfig({ testTimeout: 30_000 });

const DAY_MS = Date.UTC(2030, 6, 15);
const TIMEOUT_MS = 2_000;
const ids = ['gw-a', 'gw-b', 'gw-c'];

/** 24 hours at 0 kW but those given. */
function hours(at: Record<number, number>): number[] {
  return Array.from({ length: 24 }, (_, h) => at[h] ?? 0);
}

/**
 * With the community: the community's peak is 3 kW at 18:00 (c's 2.5 kW at 10:00 is lower), imported
 * 2 : 1 : 0, so of the 1 EUR/kW charge a pays 2, b 1, c 0. Alone: 6 kW at 18:00, imported 3 : 2 : 1.
 */
const reports: Record<string, DayReport> = {
  'gw-a': { dayMs: DAY_MS, gridKw: hours({ 18: 2 }), shadowGridKw: hours({ 18: 3 }), billEur: 5, shadowBillEur: 5.5, account: emptyNoLossAccount() },
  'gw-b': { dayMs: DAY_MS, gridKw: hours({ 18: 1 }), shadowGridKw: hours({ 18: 2 }), billEur: 2, shadowBillEur: 2, account: emptyNoLossAccount() },
  'gw-c': { dayMs: DAY_MS, gridKw: hours({ 10: 2.5, 18: 0 }), shadowGridKw: hours({ 18: 1 }), billEur: 1, shadowBillEur: 0.8, account: emptyNoLossAccount() },
};
// C = (7, 3, 1), A = (8.5, 4, 1.8): the community saved S = 14.3 − 11 = 3.3 EUR; each ends at A − S/3.
const withCommunityEur = { 'gw-a': 7, 'gw-b': 3, 'gw-c': 1 };
const aloneEur = { 'gw-a': 8.5, 'gw-b': 4, 'gw-c': 1.8 };
const savingEur = 3.3;

interface Members {
  nodes: MarketNode[];
  links: NoLossLink[];
  lines: string[];
}

/** Three members' links on a fresh broker for the length of `check`; the broker and the community are closed after it. */
async function withMembers(start: () => Promise<TestBroker>, check: (members: Members) => Promise<void>): Promise<void> {
  const broker = await start();
  const community = new TestCommunity(ids);
  try {
    const members: Members = { nodes: [], links: [], lines: [] };
    for (const id of ids) {
      const node = await community.startNode(id, broker.url, { roundSchemas: NO_LOSS_ROUND_SCHEMAS });
      const link = new NoLossLink({ node, members: community.config.members, chargeEurPerKwDay: 1, timeoutMs: TIMEOUT_MS, clock: systemClock, signal: new AbortController().signal, log: (level, line) => members.lines.push(`${id} ${level} ${line}`) });
      node.on('round', (envelope) => link.onRound(envelope));
      members.nodes.push(node);
      members.links.push(link);
    }
    await check(members);
  } finally {
    await community.close(broker.url);
    await broker.close();
  }
}

describe.each(BROKERS)('the no-loss settlement over $name', ({ start }) => {
  it('three members settle a day alike: each ends at its bill alone less a third of the saving, and the transfers sum to zero', async () => {
    await withMembers(start, async ({ links, lines }) => {
      const outcomes = await Promise.all(links.map((link, n) => link.settle(reports[ids[n]!]!)));
      for (const [n, outcome] of outcomes.entries()) {
        const id = ids[n]! as keyof typeof aloneEur;
        expect(outcome.booked, lines.join('\n')).toBe(true);
        expect(outcome.participants).toEqual(ids);
        expect(outcome.transfersEur).toEqual(outcomes[0]!.transfersEur);
        expect(outcome.aloneEur).toBeCloseTo(aloneEur[id], 12);
        expect(outcome.withCommunityEur).toBeCloseTo(withCommunityEur[id], 12);
        expect(outcome.withCommunityEur + outcome.ownTransferEur).toBeCloseTo(aloneEur[id] - savingEur / 3, 12);
      }
      expect(Object.values(outcomes[0]!.transfersEur).reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
    });
  });

  it('a member that understates its bill alone cannot leave another above its own: the others refuse and nobody books', async () => {
    await withMembers(start, async ({ links }) => {
      // gw-c, with a valid key, claims it would have been paid 20 EUR alone: the "saving" turns into a loss.
      const lying = { ...reports['gw-c']!, shadowBillEur: -20 };
      const outcomes = await Promise.all(links.map((link, n) => link.settle(n === 2 ? lying : reports[ids[n]!]!)));
      // Booked, a would end at 8.5 + 17.5 / 3 EUR, above its 8.5 EUR alone: it refuses, and so does b.
      for (const outcome of outcomes) expect(outcome.booked).toBe(false);
      for (const outcome of outcomes.slice(0, 2)) expect(outcome.reason).toMatch(/show no saving \(-17\.50 EUR\)/);
    });
  });

  it('a day a member lost before is made up from the running accounts: each ends at its running bill alone less a third of the saving', async () => {
    await withMembers(start, async ({ links, lines }) => {
      // Before this day a saved 1 EUR against alone, c lost 0.5 EUR (a day nobody paid anybody).
      const accounts = { 'gw-a': { aloneEur: 10, withCommunityEur: 9, transferEur: 0 }, 'gw-b': emptyNoLossAccount(), 'gw-c': { aloneEur: 10, withCommunityEur: 10.5, transferEur: 0 } };
      const outcomes = await Promise.all(links.map((link, n) => link.settle({ ...reports[ids[n]!]!, account: accounts[ids[n]! as keyof typeof accounts] })));
      // Saved over the accounts and the day: 3.3 + 1 − 0.5 = 3.8 EUR.
      for (const [n, outcome] of outcomes.entries()) {
        const id = ids[n]! as keyof typeof aloneEur;
        const account = accounts[id];
        expect(outcome.booked, lines.join('\n')).toBe(true);
        expect(account.withCommunityEur + withCommunityEur[id] + outcome.ownTransferEur).toBeCloseTo(account.aloneEur + aloneEur[id] - 3.8 / 3, 12);
      }
      expect(Object.values(outcomes[0]!.transfersEur).reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
      // c receives more than the day alone would give it (1.8 − 1.1 − 1 = −0.3 EUR): its earlier loss back.
      expect(outcomes[2]!.ownTransferEur).toBeCloseTo(0.3 - 3.8 / 3, 12);
    });
  });

  it('a member that claims to have paid more than it did cannot make the others pay: the accounts show a loss and nobody books', async () => {
    await withMembers(start, async ({ links }) => {
      const lying = { ...reports['gw-c']!, account: { aloneEur: 0, withCommunityEur: 0, transferEur: 50 } };
      const outcomes = await Promise.all(links.map((link, n) => link.settle(n === 2 ? lying : reports[ids[n]!]!)));
      for (const outcome of outcomes) expect(outcome.booked).toBe(false);
      for (const outcome of outcomes.slice(0, 2)) expect(outcome.reason).toMatch(/show no saving \(-46\.70 EUR\)/);
    });
  });

  it('a member that confirms other reports than it sent makes nobody book', async () => {
    await withMembers(start, async ({ nodes, links }) => {
      const hostile = nodes[2]!;
      const honest = Promise.all(links.slice(0, 2).map((link, n) => link.settle(reports[ids[n]!]!)));
      await hostile.publish('round', { name: 'no-loss-account-report', payload: reports['gw-c'] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await hostile.publish('round', { name: 'no-loss-account-confirm', payload: { dayMs: DAY_MS, digest: '0'.repeat(64), accept: true } });
      const outcomes: DaySettlement[] = await honest;
      for (const outcome of outcomes) {
        expect(outcome.booked).toBe(false);
        expect(outcome.participants).toEqual(ids);
        expect(outcome.reason).toBe('gw-c settled on other reports');
      }
    });
  });

  it('a member that does not report is waited for until the timeout, then the others settle between themselves, and do not wait for it again until it reports', async () => {
    await withMembers(start, async ({ links, lines }) => {
      const outcomes = await Promise.all(links.slice(0, 2).map((link, n) => link.settle(reports[ids[n]!]!)));
      // Between a and b: with the community 3 kW at 18:00, 2 : 1; alone 5 kW, 3 : 2. C = (7, 3), A = (8.5, 4), S = 2.5.
      for (const [n, outcome] of outcomes.entries()) {
        expect(outcome.booked, lines.join('\n')).toBe(true);
        expect(outcome.participants).toEqual(['gw-a', 'gw-b']);
        expect(outcome.withCommunityEur + outcome.ownTransferEur).toBeCloseTo([8.5, 4][n]! - 2.5 / 2, 12);
      }
      expect(lines.filter((l) => l.includes('no report from gw-c'))).toHaveLength(2);
      // The next day gw-c is not waited for: it missed the last wait and has not reported since.
      const next = (r: DayReport) => ({ ...r, dayMs: DAY_MS + 86_400_000 });
      const nextDay = await Promise.all(links.slice(0, 2).map((link, n) => link.settle(next(reports[ids[n]!]!))));
      expect(nextDay.map((o) => o.participants)).toEqual([['gw-a', 'gw-b'], ['gw-a', 'gw-b']]);
      expect(lines.filter((l) => l.includes('no report from gw-c'))).toHaveLength(2);
    });
  });
});
