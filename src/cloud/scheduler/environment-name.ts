/**
 * Environment names as the API takes them: trimmed and lower case, as the
 * engine names environments, and refused when they could not be one.
 */
import { normalizeEnvironmentName } from '../../engine/snapshot/table-naming.js';
import { badRequest } from '../http/api-error.js';

/** Longest environment name accepted. */
export const MAX_ENVIRONMENT_NAME = 255;

/** The environment name `raw` stands for, or a 400 naming `where`. */
export function environmentName(raw: string | undefined, where = 'environment'): string {
  const name = normalizeEnvironmentName(raw ?? '');
  if (!name) throw badRequest(`${where}: name an environment (e.g. prod or dev)`);
  if (name.length > MAX_ENVIRONMENT_NAME) {
    throw badRequest(`${where}: at most ${MAX_ENVIRONMENT_NAME} characters`);
  }
  // Control characters can name no environment a plan created.
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw badRequest(`${where}: control characters are not allowed`);
  }
  return name;
}
