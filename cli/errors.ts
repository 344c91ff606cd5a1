/**
 * What a user command can fail with: one line saying what was wrong and what to
 * do. `main.ts` prints it as ` ▸    message` (Heroku's CLI style) and exits 1.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Usage mistakes the user can fix by changing the command line. */
export const usage = (m: string) => new CliError(m, 1);
