import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal, JournalCorruptError } from '../../src/storage/journal.ts';
import { Ledger } from '../../src/market/ledger.ts';
import { withCommittedTrades } from '../../src/market/optimizer-link.ts';
import { TEST_SLOT_MS, tradeTerms } from './day-fixture.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pe-journal-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const trade = tradeTerms;

describe('the append-only journal', () => {
  it('reads back every record appended before a restart', () => {
    const path = join(tempDir(), 'j.jsonl');
    const first = Journal.open<{ n: number }>(path).journal;
    first.append({ n: 1 });
    first.append({ n: 2 });
    first.close();
    expect(Journal.open<{ n: number }>(path).records).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('drops a torn last line (a write cut by a crash) and appends cleanly after it', () => {
    const path = join(tempDir(), 'j.jsonl');
    const first = Journal.open<{ n: number }>(path).journal;
    first.append({ n: 1 });
    first.close();
    appendFileSync(path, '{"crc32":"0000');
    const reopened = Journal.open<{ n: number }>(path);
    expect(reopened.records).toEqual([{ n: 1 }]);
    expect(reopened.tornTail).toBe(true);
    reopened.journal.append({ n: 2 });
    reopened.journal.close();
    expect(Journal.open<{ n: number }>(path).records).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('refuses to load a journal damaged before its last line', () => {
    const path = join(tempDir(), 'j.jsonl');
    const journal = Journal.open<{ n: number }>(path).journal;
    journal.append({ n: 1 });
    journal.append({ n: 2 });
    journal.close();
    writeFileSync(path, readFileSync(path, 'utf8').replace('"n":1', '"n":7'));
    expect(() => Journal.open(path)).toThrow(JournalCorruptError);
  });
});

describe('the ledger', () => {
  it('survives a restart with every decision and the in-doubt acceptances', () => {
    const dir = tempDir();
    const ledger = Ledger.open(dir, 'bob');
    ledger.recordAccepted(trade('t1', 'alice', 'bob', 1.5));
    ledger.recordDecision(trade('t1', 'alice', 'bob', 1.5), 'committed');
    ledger.recordAccepted(trade('t2', 'carol', 'bob'));
    ledger.recordDecision(trade('t3', 'bob', 'carol', 0.5), 'committed');
    ledger.close();

    const reopened = Ledger.open(dir, 'bob');
    expect(reopened.committed().map((t) => t.tradeId).sort()).toEqual(['t1', 't3']);
    expect(reopened.inDoubt().map((t) => t.tradeId)).toEqual(['t2']);
    expect(reopened.committedKw('alice', [TEST_SLOT_MS, 1_800_003_600_000])).toEqual([1.5, null]);
    expect(reopened.committedKw('carol', [TEST_SLOT_MS])).toEqual([-0.5]);
    expect(reopened.committedKwByPeer([TEST_SLOT_MS])).toEqual({ alice: [1.5], carol: [-0.5] });
  });

  it('never turns a final decision around, and repeating one changes nothing', () => {
    const ledger = Ledger.open(tempDir(), 'alice');
    ledger.recordDecision(trade('t1', 'alice', 'bob'), 'committed');
    expect(ledger.recordDecision(trade('t1', 'alice', 'bob'), 'aborted', 'late').state).toBe('committed');
    expect(ledger.recordDecision(trade('t1', 'alice', 'bob'), 'committed').state).toBe('committed');
    expect(ledger.committed()).toHaveLength(1);
  });
});

describe('a bounded ledger', () => {
  const slotEndMs = TEST_SLOT_MS + 3_600_000;

  it('forgets decided trades whose slot ended before the cut, in memory and on disk, and keeps in-doubt ones', () => {
    const dir = tempDir();
    const ledger = Ledger.open(dir, 'bob');
    ledger.recordDecision(trade('t1', 'alice', 'bob'), 'committed');
    ledger.recordAccepted(trade('t2', 'carol', 'bob'));
    ledger.recordAccepted(trade('t3', 'carol', 'bob'));
    ledger.recordDecision(trade('t3', 'carol', 'bob'), 'aborted', 'only 0 kW left');
    expect(ledger.forgetDecidedBefore(slotEndMs)).toBe(0);
    expect(ledger.forgetDecidedBefore(slotEndMs + 1)).toBe(2);
    expect(ledger.entriesList().map((e) => e.trade.tradeId)).toEqual(['t2']);
    expect(ledger.journalLines).toBe(1);
    ledger.close();
    expect(Ledger.open(dir, 'bob').entriesList().map((e) => [e.trade.tradeId, e.state])).toEqual([['t2', 'in-doubt']]);
  });
});

describe('committed trades handed to the optimizer', () => {
  it('fix x_{m,t} where a trade is committed and leave the other slots free', () => {
    const ledger = Ledger.open(tempDir(), 'bob');
    ledger.recordDecision(trade('t1', 'alice', 'bob', 1.5), 'committed');
    const slots = [TEST_SLOT_MS - 3_600_000, TEST_SLOT_MS];
    const peers = [
      { peerId: 'alice', priceEurPerKwh: [0.2, 0.2], maxKw: 5 },
      { peerId: 'carol', priceEurPerKwh: [0.2, 0.2], maxKw: 5 },
    ];
    expect(withCommittedTrades(peers, ledger, slots)).toEqual([{ ...peers[0], committedKw: [null, 1.5] }, peers[1]]);
    expect(() => withCommittedTrades(peers.slice(1), ledger, slots)).toThrow(/alice/);
  });
});
