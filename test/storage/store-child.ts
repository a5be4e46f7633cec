/**
 * TEST FIXTURE: a gateway's store in its own process, so a test can SIGKILL it at any instant.
 * Usage: node --import tsx store-child.ts <spec json> (the tests run it compiled: test/child-bundle.ts). Every line it prints is printed after the
 * action it reports has returned (stdout is a pipe, written synchronously on Linux).
 *   write:   appends to every stream and commits P2P trades in the market ledger, forever, printing
 *            "<stream> <id>" after each append and "accepted|committed <tradeId>" after each ledger write.
 *   hold:    opens the store, prints "open", waits.
 *   rewrite: rewrites one journal back and forth between the two `rewriteSets`, forever.
 * With `recordFsyncs` it also prints "synced <path> <size>" after every fsync of a file.
 */
import { Ledger } from '../../src/market/ledger.ts';
import { Journal } from '../../src/storage/journal.ts';
import { openRuntimeStore } from '../../src/storage/store.ts';
import { SELF_ID, type StoreChildSpec } from './child-handle.ts';
import { errorSample, hour, measurement, plan, recordFsyncs, rewriteSets, safetyEvent, trade } from './fixtures.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

{
  const spec = JSON.parse(process.argv[2]!) as StoreChildSpec;
  if (spec.recordFsyncs) recordFsyncs((path, size) => out(`synced ${path} ${size}`));
  if (spec.mode === 'rewrite') {
    const { journal } = Journal.open<{ id: number; text: string }>(spec.path);
    const [first, second] = rewriteSets();
    out('ready');
    for (;;) {
      journal.rewrite(second);
      journal.rewrite(first);
    }
  }
  const store = openRuntimeStore(spec.path, { ...spec.options, log: (level, message) => out(`log ${level} ${message}`) });
  if (spec.mode === 'hold') {
    out('open');
    setInterval(() => {}, 60_000);
  } else {
    const ledger = Ledger.open(store.marketDir, SELF_ID);
    const next = { ...spec.firstIds! };
    out('ready');
    for (;;) {
      store.appendPlan(plan(next.plans));
      out(`plans ${next.plans++}`);
      for (let k = 0; k < 4; k++) {
        store.appendMeasurement(measurement(next.measurements));
        out(`measurements ${next.measurements++}`);
      }
      store.appendHour(hour(next.hours));
      out(`hours ${next.hours++}`);
      store.appendErrorSample(errorSample(next.errorSamples));
      out(`errorSamples ${next.errorSamples++}`);
      store.appendSafetyEvent(safetyEvent(next.safetyEvents));
      out(`safetyEvents ${next.safetyEvents++}`);
      const terms = trade(next.trades++, SELF_ID);
      if (terms.buyer === SELF_ID) {
        ledger.recordAccepted(terms);
        out(`accepted ${terms.tradeId}`);
      }
      ledger.recordDecision(terms, 'committed');
      out(`committed ${terms.tradeId}`);
    }
  }
}
