/**
 * Whether a project is in cloud mode: its selected gateway says
 * `scheduler: {type: cloud}` (directly, or through `default_scheduler`).
 * Then `plan` and `run` work against the cloud instead of the warehouse.
 */
import { loadProjectConfig, resolveGatewayName } from '../../engine/config/config-loader.js';

/**
 * The name of the selected gateway when it uses the cloud scheduler, else
 * undefined. A configuration that does not load is not cloud mode here: the
 * local path reports the mistake as it always does.
 */
export function cloudGateway(
  root: string,
  env: Record<string, string | undefined>,
  gateway?: string,
): string | undefined {
  try {
    const config = loadProjectConfig(root, { env, ...(gateway ? { gateway } : {}) });
    const name = resolveGatewayName(config, gateway);
    return config.gateways[name]?.scheduler?.type === 'cloud' ? name : undefined;
  } catch {
    return undefined;
  }
}
