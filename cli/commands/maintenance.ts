/** `maintenance`, `maintenance:on`, `maintenance:off`: the routers answer 503 (H80) while it is on. */
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import type { AppJson } from './apps.ts';
import { print } from '../output.ts';
import { api, appOf, hex, step, withApp } from '../shared.ts';

export function registerMaintenance(program: Command): void {
  withApp(program.command('maintenance').description('show whether maintenance mode is on')).action(async (flags: AppFlags) => {
    const app = await api().get<AppJson>(`/apps/${appOf(flags)}`);
    print(app.maintenance ? 'on\n' : 'off\n');
  });

  for (const on of [true, false]) {
    withApp(program.command(`maintenance:${on ? 'on' : 'off'}`).description(on ? 'put the app in maintenance mode: routers answer 503 with H80' : 'take the app out of maintenance mode'))
      .action(async (flags: AppFlags) => {
        const app = appOf(flags);
        await step(`${on ? 'Enabling' : 'Disabling'} maintenance mode for ${hex(app)}`, () => api().patch(`/apps/${app}`, { maintenance: on }));
      });
  }
}
