// Reading the project through the API, in the shapes the pages use. Where
// the server offers an observability route it is used; otherwise the same
// facts are read from the state, runs and plans routes every cloud has.
import { api, optionalApi } from './api.js';

const q = (params) => {
  const entries = Object.entries(params).filter(
    ([, v]) => v !== undefined && v !== null && v !== '',
  );
  return entries.length ? `?${new URLSearchParams(entries).toString()}` : '';
};
const enc = encodeURIComponent;

const num = (v) => (v === null || v === undefined || v === '' ? null : Number(v));

/** An environment in the UI's shape, from the state's Environment or an observability row. */
function toEnvironment(e) {
  return {
    name: e.name,
    createdTs: num(e.createdTs),
    updatedTs: num(e.updatedTs),
    expirationTs: num(e.expirationTs ?? e.expiresTs),
    planId: e.planId ?? e.lastPlanId ?? null,
    modelCount: Array.isArray(e.snapshots) ? e.snapshots.length : num(e.modelCount ?? e.models),
    snapshots: Array.isArray(e.snapshots) ? e.snapshots : null,
    paused: e.paused === true,
  };
}

export async function listEnvironments() {
  const { environments } = await api('/state/environments');
  return environments
    .map(toEnvironment)
    .sort((a, b) =>
      a.name === 'prod' ? -1 : b.name === 'prod' ? 1 : a.name.localeCompare(b.name),
    );
}

/** The environment with its snapshots, or null when it does not exist. */
export async function getEnvironment(name) {
  const { environment } = await api(`/state/environments/${enc(name)}`);
  return environment ? toEnvironment(environment) : null;
}

function toPlan(p) {
  return {
    kind: 'plan',
    id: p.id ?? p.planId,
    environment: p.environment,
    status: p.status,
    createdTs: num(p.createdTs),
    updatedTs: num(p.updatedTs),
    startedTs: num(p.startedTs),
    finishedTs: num(p.finishedTs),
    createdBy: p.createdBy ?? null,
    createdByName: p.createdByName ?? null,
    error: p.error ?? null,
    cancelRequestedTs: num(p.cancelRequestedTs),
    summary: p.summary ?? {},
  };
}

/** Plans, newest first: the observability list (with start and finish times) or the state's. */
export async function listPlans({ environment, limit = 200 } = {}) {
  const observed = await optionalApi(`/plans${q({ environment, limit: Math.min(limit, 500) })}`);
  const { plans } = observed ?? (await api(`/state/plans${q({ environment, limit })}`));
  return plans.map(toPlan);
}

export async function getPlan(id) {
  return toPlan(await api(`/plans/${enc(id)}`));
}

/** Evaluations and log lines of a plan (up to `limit` of each; `complete` false when cut). */
export async function planProgress(id, limit = 5000) {
  const p = await api(`/plans/${enc(id)}/progress${q({ limit })}`);
  return {
    ...p,
    logsComplete: p.logs.length < limit,
    evaluationsComplete: p.evaluations.length < limit,
  };
}

function toRun(r) {
  return {
    kind: 'run',
    ...r,
    createdTs: num(r.createdTs),
    startedTs: num(r.startedTs),
    finishedTs: num(r.finishedTs),
  };
}

export async function listRuns({ environment, limit = 500 } = {}) {
  const { runs } = await api(`/runs${q({ environment, limit })}`);
  return runs.map(toRun);
}

export async function getRun(id) {
  const { run } = await api(`/runs/${enc(id)}`);
  return toRun(run);
}

export async function freshness(environment) {
  return api(`/environments/${enc(environment)}/freshness`);
}

export async function pauses(environment) {
  return api(`/environments/${enc(environment)}/pauses`);
}

export async function snapshots(ids) {
  if (!ids.length) return [];
  const { snapshots } = await api('/state/snapshots/get', { method: 'POST', body: { ids } });
  return snapshots;
}

export async function snapshotSummaries() {
  const { snapshots } = await api('/state/snapshots/summaries');
  return snapshots;
}

export async function intervals(ids) {
  if (!ids.length) return [];
  const { intervals } = await api('/state/intervals/get', {
    method: 'POST',
    body: { ids },
  });
  return intervals;
}

export async function executors() {
  const { executors } = await api('/executors');
  return executors;
}

/**
 * A page of the project's activity (plans, runs, pauses, client changes),
 * newest first, from the cloud's activity list: `type` and `environment`
 * filter it; `before` is the cursor of the page to read (`nextBefore` of
 * the page before it).
 */
export async function activityPage({ type, environment, before, limit = 15 } = {}) {
  const page = await api(`/activity${q({ type, environment, before, limit })}`);
  return {
    items: page.activity.map((a) => ({ ...a, ts: num(a.ts) })),
    truncated: page.truncated === true,
    nextBefore: page.nextBefore ?? null,
  };
}

/** Prod at a glance: freshness counts, last run and plan, two weeks of bars (server time). */
export async function home() {
  const summary = await api('/home');
  const chartItem = (i) => ({
    kind: i.kind,
    id: i.id,
    status: i.status,
    startedTs: num(i.startTs),
    createdTs: num(i.startTs),
    finishedTs: i.durationMs === null ? null : num(i.startTs) + Number(i.durationMs),
  });
  return {
    ...summary,
    lastRun: summary.lastRun ? toRun(summary.lastRun) : null,
    lastPlan: summary.lastPlan ? toPlan(summary.lastPlan) : null,
    chart: { ...summary.chart, items: summary.chart.items.map(chartItem) },
  };
}

/** An environment as the observability API describes it: differences from prod and more. */
export async function environmentDetail(name) {
  return (await optionalApi(`/environments/${enc(name)}`))?.environment;
}

/** Evaluations, newest first (`environment`, `status`, `model`, `run`, `plan` filter them). */
export async function evaluations(filter = {}) {
  const page = await api(`/evaluations${q({ ...filter, limit: filter.limit ?? 50 })}`);
  return page.evaluations;
}

/** Where the audit results of a run or plan are read. */
const auditsPath = (kind, id) =>
  `/${kind === 'plan' ? 'plans' : 'runs'}/${enc(id)}/audits?limit=500`;

/** Audit results of a run or plan. */
export async function auditsOf(kind, id) {
  return (await api(auditsPath(kind, id))).audits;
}

/** A log page in the UI's shape: oldest line first, and whether lines are missing. */
function toLogPage(page) {
  if (!page) return undefined;
  return {
    logs: [...page.logs].sort((a, b) => a.id - b.id),
    truncated: page.truncated === true,
    olderRemoved: page.retention?.olderRemoved === true,
  };
}

/** Optional observability reads: undefined when this server does not offer them. */
export const optional = {
  runLogs: async (id) => toLogPage(await optionalApi(`/runs/${enc(id)}/logs?limit=500`)),
  planLogs: async (id) => toLogPage(await optionalApi(`/plans/${enc(id)}/logs?limit=500`)),
  runEvaluations: (id) => optionalApi(`/runs/${enc(id)}/evaluations?limit=500`),
  runAudits: (id) => optionalApi(auditsPath('run', id)),
  runAdjacent: (id) => optionalApi(`/runs/${enc(id)}/adjacent`),
  planAudits: (id) => optionalApi(auditsPath('plan', id)),
  planChanges: (id) => optionalApi(`/plans/${enc(id)}/changes`),
  modelDetail: async (env, name) =>
    (await optionalApi(`/environments/${enc(env)}/models/${enc(name)}`))?.model,
};
