/**
 * `tideline plan` in cloud mode. The project is loaded and its snapshots
 * built here, the plan is computed against the cloud's state and shown as in
 * local mode; applying it means submitting it to the cloud (`POST /plans`)
 * and following it while an apply executor applies it next to the
 * warehouse. The CLI itself never connects to the warehouse.
 */
import type { Command } from 'commander';
import { TidelineError } from '../../engine/errors.js';
import { buildPlan } from '../../engine/plan/plan-builder.js';
import type { Plan } from '../../engine/plan/plan-types.js';
import { loadProject, type Project } from '../../engine/project/project-loader.js';
import { buildSnapshots } from '../../engine/snapshot/snapshot-builder.js';
import { CloudApiError } from '../../executor/client/cloud-client.js';
import { HttpStateSync } from '../../executor/client/http-state-sync.js';
import type { SubmitPlanResponse } from '../../protocol/messages.js';
import { type CliIo, globalOptions, type GlobalOptions } from '../cli-context.js';
import {
  planRequest,
  presentPlan,
  unitTestsPass,
  type PlanFlags,
} from '../commands/plan-commands.js';
import {
  EXIT_INTERRUPTED,
  openCloudSession,
  untilInterrupted,
  type CloudSession,
  type CloudTimings,
} from './cloud-session.js';
import { watchPlan } from './plan-watch.js';

/** A project opened for cloud mode: loaded locally, with the cloud's state. */
export interface CloudProject extends CloudSession {
  project: Project;
  state: HttpStateSync;
  /** How a model is shown: its name without the default catalog. */
  showName(fqn: string): string;
}

/** Opens the session, then loads the project (its warnings go to the error stream). */
export async function openCloudProject(
  global: GlobalOptions,
  io: CliIo,
  now = Date.now(),
): Promise<CloudProject> {
  const session = openCloudSession(global, io.env);
  const project = await loadProject(global.root, {
    env: io.env,
    gateway: session.gateway,
    now,
  });
  for (const w of project.warnings) io.err(`Warning: ${w}`);
  return {
    ...session,
    project,
    state: new HttpStateSync(session.client),
    showName: (fqn) => project.models.get(fqn)?.name ?? fqn,
  };
}

/** Computes a plan of `environment` against the cloud's state, as local mode does. */
export async function computeCloudPlan(
  cloud: CloudProject,
  environment: string,
  opts: PlanFlags,
  now = Date.now(),
): Promise<Plan> {
  const resolve = (name: string) => cloud.project.findModel(name).fqn;
  const request = planRequest(environment, opts, now, resolve);
  return buildPlan({
    ...request,
    ...(request.restateModels ? { restateModels: request.restateModels.map(resolve) } : {}),
    snapshots: buildSnapshots(cloud.project, { now }),
    state: cloud.state,
    now,
    displayName: cloud.showName,
  });
}

/**
 * Submits a computed plan; returns its id. A plan computed before the
 * environment last changed is refused with a one-line error.
 */
export async function submitCloudPlan(cloud: CloudSession, plan: Plan): Promise<string> {
  try {
    const res = await cloud.client.post<SubmitPlanResponse>('/plans', { plan });
    return res.planId;
  } catch (err) {
    if (err instanceof CloudApiError && err.status === 409 && err.code === 'stale_plan') {
      throw new TidelineError(
        `environment \`${plan.environment}\` changed since this plan was computed; run plan again`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Submits `plan` and follows it to the end, printing progress. Sets the exit
 * code: 0 applied, 1 failed or cancelled, 130 when Ctrl-C stopped the
 * waiting (the plan goes on in the cloud).
 */
export async function applyInCloud(
  cloud: CloudProject,
  plan: Plan,
  io: CliIo,
  timings: CloudTimings & { signal?: AbortSignal } = {},
): Promise<void> {
  const planId = await submitCloudPlan(cloud, plan);
  io.out('');
  io.out(`Submitted plan ${planId} to ${cloud.client.projectUrl}; an apply executor applies it.`);
  const watched = timings.signal
    ? await watchPlan(cloud.client, planId, io, { ...timings, nameOf: cloud.showName })
    : await untilInterrupted((signal) =>
        watchPlan(cloud.client, planId, io, { ...timings, signal, nameOf: cloud.showName }),
      );
  if (watched.outcome === 'detached') {
    io.err(
      `Stopped waiting: plan ${planId} keeps applying in the cloud (${cloud.client.projectUrl}).`,
    );
    io.exitCode = EXIT_INTERRUPTED;
    return;
  }
  const info = watched.plan;
  if (info.status === 'succeeded') {
    io.out('');
    io.out(
      `Applied plan to \`${info.environment}\`: ${watched.evaluations} evaluation(s) in ${watched.elapsed}; virtual layer updated.`,
    );
    return;
  }
  const verb = info.status === 'cancelled' ? 'was cancelled' : 'failed';
  io.err(`Error: plan for \`${info.environment}\` ${verb}: ${info.error ?? 'no reason given'}`);
  io.exitCode = 1;
}

/** The `plan` action in cloud mode. */
export async function cloudPlanCommand(
  environment: string | undefined,
  opts: PlanFlags,
  cmd: Command,
  io: CliIo,
  timings: CloudTimings = {},
): Promise<void> {
  const cloud = await openCloudProject(globalOptions(cmd), io);
  if (!(await unitTestsPass(cloud.project, opts, io))) return;
  const env = environment ?? cloud.project.config.defaultTargetEnvironment ?? 'prod';
  const plan = await computeCloudPlan(cloud, env, opts);
  if (!(await presentPlan(plan, opts, io, cloud.showName))) return;
  await applyInCloud(cloud, plan, io, timings);
}
