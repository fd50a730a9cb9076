/**
 * Who may do what. Four roles: viewer reads; developer also plans and runs
 * non-prod environments; admin does everything (prod, clients, connections,
 * pauses, users); executor claims and reports tasks of its own project only.
 *
 * | action                | viewer | developer | admin | executor |
 * | --------------------- | ------ | --------- | ----- | -------- |
 * | read                  | yes    | yes       | yes   | no       |
 * | state.read            | yes    | yes       | yes   | yes      |
 * | plan.dev / run.dev    | no     | yes       | yes   | no       |
 * | plan.prod / run.prod  | no     | no        | yes   | no       |
 * | state.write           | no     | yes       | yes   | no       |
 * | pause                 | no     | no        | yes   | no       |
 * | clients / users       | no     | no        | yes   | no       |
 * | connections           | no     | no        | yes   | no       |
 * | executor              | no     | no        | no    | yes      |
 */
import type { Role } from '../store/schema.js';

export type Action =
  | 'read'
  | 'state.read'
  | 'state.write'
  | 'plan.dev'
  | 'plan.prod'
  | 'run.dev'
  | 'run.prod'
  | 'pause'
  | 'clients'
  | 'users'
  | 'connections'
  | 'executor';

export const ROLES: readonly Role[] = ['viewer', 'developer', 'admin', 'executor'];

export const PERMISSIONS: Record<Role, ReadonlySet<Action>> = {
  viewer: new Set(['read', 'state.read']),
  developer: new Set(['read', 'state.read', 'state.write', 'plan.dev', 'run.dev']),
  admin: new Set([
    'read',
    'state.read',
    'state.write',
    'plan.dev',
    'plan.prod',
    'run.dev',
    'run.prod',
    'pause',
    'clients',
    'users',
    'connections',
  ]),
  executor: new Set(['state.read', 'executor']),
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function can(role: Role, action: Action): boolean {
  return PERMISSIONS[role].has(action);
}

/** The action planning or running `environment` needs. */
export function environmentAction(kind: 'plan' | 'run', environment: string): Action {
  return environment === 'prod' ? `${kind}.prod` : `${kind}.dev`;
}
