/**
 * One household's side of the community clearing over MQTT (sharing-rounds.ts), with the
 * community import chance family: the joint samples (formulation §8: every household's forecast
 * error on the same past day i) are aligned by day without anyone sending a sample. The leader names
 * I past days — the issue instants of its own I most similar error trajectories — in its round
 * messages; each household builds its local step on its own errors of those days (a day it lacks:
 * its own nearest trajectory instead, ErrorSampleStore.onDays). A household with no error
 * trajectory at all cannot take part in a clearing with the family: it does not answer, and the
 * leader drops it (it then plans alone).
 */
import { DEFAULT_MODEL_OPTIONS, floorSamples } from '../../optimizer/model.ts';
import { HouseholdAgent, type LocalSolver, type SharingSettings } from '../../optimizer/community/index.ts';
import type { ProblemInput } from '../../optimizer/types.ts';

/** A household's error trajectories by the day they were issued (the runtime: its forecaster's error store over the problem's steps). */
export interface ErrorDays {
  /** Issue instants (ms) of its `count` most similar trajectories, most similar first: the days it names when it leads. */
  nearest(count: number): number[];
  /** Its errors over the problem's steps on the named days, one T-vector per day; empty: it has none. */
  on(issuedMs: readonly number[]): number[][];
}

/** What runSharing needs of a household: the days it names as leader, and its local step on a leader's days. */
export interface SharingHousehold {
  /** Up to `count` days (issue instants) of its own; [] when it has none. */
  sampleDays(count: number): number[];
  /**
   * Its local step on the days `sampleDaysMs` ([]: without the chance family), with κ priced when
   * the leader's radius is > 0; null when it cannot take part (no error trajectory at all).
   */
  agentFor(sampleDaysMs: readonly number[], lipschitzPriced: boolean): HouseholdAgent | null;
}

/**
 * A household of `input` whose error days are `errorDays` (none: it clears only without the
 * chance family). Its agents solve on `solver` (a gateway's solver worker) or, without one, each
 * on an optimizer of its own; `dispose` releases them.
 */
export function sharingHousehold(input: ProblemInput, errorDays: ErrorDays | undefined, settings: SharingSettings, startMs: number, solver?: LocalSolver): SharingHousehold & { dispose(): void } {
  const agents: HouseholdAgent[] = [];
  return {
    sampleDays: (count) => errorDays?.nearest(count) ?? [],
    agentFor(sampleDaysMs, lipschitzPriced) {
      const samplesKw = sampleDaysMs.length === 0 ? [] : (errorDays?.on(sampleDaysMs) ?? []);
      if (samplesKw.length !== sampleDaysMs.length) return null;
      // Floored as the in-process clearing floors the joint samples (floorJointSamples), entry by entry.
      const agent = new HouseholdAgent(input, floorSamples(samplesKw, DEFAULT_MODEL_OPTIONS.sampleFloorKw), settings, lipschitzPriced, startMs, solver);
      agents.push(agent);
      return agent;
    },
    dispose: () => {
      for (const agent of agents.splice(0)) agent.dispose();
    },
  };
}
