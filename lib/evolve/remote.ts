/**
 * Evaluation somewhere else (lib/distributed: workers on a BullMQ queue). The engine keeps the
 * run folder, the journal and selection; it makes every offspring itself (for its checksum and
 * the fitness cache, exactly as a local run) and asks the remote side only for scores. A trial
 * is named by what rebuilds it bit for bit — (k, the population version it was made from, its
 * target, members, F, CR) plus the accepted history — so no weights cross the network.
 */
import type { EvolveConfig } from './config.js';
import type { ChecksumAlgorithm } from './content-hash.js';
import type { Fitness } from './evaluator.js';
import type { InputIdentity } from './inputs.js';
import type { TrialMembers } from './members.js';

/** What rebuilds one offspring; `version` = how many decided trials its parents include. */
export interface TrialRecipe {
  k: number;
  version: number;
  target: number;
  members: TrialMembers;
  F: number;
  CR: number;
}

/** An accepted trial as workers replay it; `checksum` is the offspring's (verified on rebuild). */
export interface AcceptedTrial extends TrialRecipe {
  checksum: string;
}

/** What a worker needs to rebuild any offspring of the run and to score it. */
export interface RunSpec {
  runId: string;
  config: EvolveConfig;
  evolved: string[];
  checksum: ChecksumAlgorithm;
  inputs: InputIdentity[];
}

export interface RemoteEvaluator {
  /** The run is open: publish what workers need, with the accepted history so far. */
  start(spec: RunSpec, accepted: AcceptedTrial[]): Promise<void>;
  /** Scores input model `member` (whose checksum is `checksum`). */
  initial(member: number, checksum: string, signal: AbortSignal): Promise<Fitness>;
  /** Scores the offspring `recipe` makes (whose checksum is `checksum`). */
  trial(recipe: TrialRecipe, checksum: string, signal: AbortSignal): Promise<Fitness>;
  /** A trial was accepted: later versions include it (called before any job that needs it). */
  accepted(trial: AcceptedTrial): Promise<void>;
  close(): Promise<void>;
}
