/** Every user command, one file per command group. */
import type { Command } from 'commander';
import { registerAccess } from './access.ts';
import { registerAddons } from './addons.ts';
import { registerApps } from './apps.ts';
import { registerAuthorizations } from './authorizations.ts';
import { registerBuilds } from './builds.ts';
import { registerCerts } from './certs.ts';
import { registerConfig } from './config.ts';
import { registerCron } from './cron.ts';
import { registerDomains } from './domains.ts';
import { registerDrains } from './drains.ts';
import { registerFeatures } from './features.ts';
import { registerLogin } from './login.ts';
import { registerLogs } from './logs.ts';
import { registerMaintenance } from './maintenance.ts';
import { registerMetrics } from './metrics.ts';
import { registerNodes } from './nodes.ts';
import { registerPs } from './ps.ts';
import { registerReleases } from './releases.ts';
import { registerRun } from './run.ts';
import { registerUp } from './up.ts';
import { registerUsers } from './users.ts';

export function registerUserCommands(program: Command): void {
  registerUp(program);
  registerLogin(program);
  registerApps(program);
  registerAccess(program);
  registerConfig(program);
  registerReleases(program);
  registerPs(program);
  registerLogs(program);
  registerMetrics(program);
  registerDrains(program);
  registerRun(program);
  registerCron(program);
  registerDomains(program);
  registerCerts(program);
  registerFeatures(program);
  registerMaintenance(program);
  registerBuilds(program);
  registerAddons(program);
  registerNodes(program);
  registerUsers(program);
  registerAuthorizations(program);
}
