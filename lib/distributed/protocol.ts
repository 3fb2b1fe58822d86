/**
 * What crosses the network between a coordinator and its workers: small JSON, never weights.
 *
 * Redis keys (beside BullMQ's own, which live under `bull:<queue>:`):
 *   evolver:run:<runId>            the RunSpec (config, evolved tensors, checksum algorithm,
 *                                  input fingerprints) and the root its paths are relative to
 *   evolver:run:<runId>:accepted   list of AcceptedTrial JSON, in k order
 * A job is a TrialJob or an InitialJob (a few hundred bytes); a result is a JobResult.
 */
import { z } from 'zod';

import type { AcceptedTrial, RunSpec } from '../evolve/remote.js';

export const JOB_FORMAT = 'evolver-job/1';

export const specKey = (runId: string) => `evolver:run:${runId}`;
export const acceptedKey = (runId: string) => `evolver:run:${runId}:accepted`;

/** BullMQ job ids: deterministic, so a resumed coordinator finds the results of jobs already done. */
export const trialJobId = (runId: string, k: number, checksum: string) => `${runId}-k${k}-${checksum.slice(0, 16)}`;
export const initialJobId = (runId: string, member: number, checksum: string) => `${runId}-m${member}-${checksum.slice(0, 16)}`;

const runId = z.string().regex(/^[0-9a-f-]{36}$/, 'a run id (UUID)');
const checksum = z.string().regex(/^[0-9a-f]{64}$/, 'a checksum (64 hex digits)');
const index = z.number().int().min(0).max(1e9);
const members = z.strictObject({ a: index.optional(), b: index.optional(), r0: index.optional(), best: index.optional(), ref: index.optional() });

export const TrialJobSchema = z.strictObject({
  format: z.literal(JOB_FORMAT),
  kind: z.literal('trial'),
  runId,
  k: index,
  version: index,
  target: index,
  members,
  F: z.number().finite(),
  CR: z.number().finite().min(0).max(1),
  /** How many accepted trials the parents include: a worker that reads fewer (Redis lost them) waits. */
  accepted: index,
  checksum,
});
export const InitialJobSchema = z.strictObject({
  format: z.literal(JOB_FORMAT),
  kind: z.literal('initial'),
  runId,
  member: index,
  checksum,
});
export const JobSchema = z.discriminatedUnion('kind', [TrialJobSchema, InitialJobSchema]);
export type TrialJob = z.infer<typeof TrialJobSchema>;
export type InitialJob = z.infer<typeof InitialJobSchema>;
export type Job = z.infer<typeof JobSchema>;

export const AcceptedTrialSchema = z.strictObject({ k: index, version: index, target: index, members, F: z.number().finite(), CR: z.number().finite(), checksum });

/** A result; the score is encodeNumber'd (JSON has no -Infinity). */
export const JobResultSchema = z.strictObject({
  score: z.union([z.number(), z.enum(['Infinity', '-Infinity', 'NaN'])]),
  metrics: z.record(z.string(), z.union([z.number(), z.string()])),
  checksum,
  worker: z.string(),
  seconds: z.record(z.string(), z.number()),
});
export type JobResult = z.infer<typeof JobResultSchema>;

/** The spec as stored: paths in `spec.config` are absolute on the coordinator, under `root`. */
export interface StoredSpec {
  spec: RunSpec;
  root: string;
}

export type { AcceptedTrial };
