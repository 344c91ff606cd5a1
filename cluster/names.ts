/**
 * The names the platform gives things, in one place (Heroku's rules): an app
 * name is lowercase letters, digits and dashes, starting with a letter, at most
 * 30 characters; a process type is lowercase letters, digits and `_`, starting
 * with a letter; a dyno is `type.N`. The pattern sources are exported for the few
 * places that embed a name in a longer pattern (a URL path, a scale argument).
 */
export const APP_NAME = '[a-z][a-z0-9-]{0,29}';
export const PROCESS_TYPE = '[a-z][a-z0-9_]*';
export const DYNO_NAME = `${PROCESS_TYPE}\\.[0-9]+`;

const app = new RegExp(`^${APP_NAME}$`);
const type = new RegExp(`^${PROCESS_TYPE}$`);
const dyno = new RegExp(`^${DYNO_NAME}$`);

export const isAppName = (s: string): boolean => app.test(s);
export const isProcessType = (s: string): boolean => type.test(s);
export const isDynoName = (s: string): boolean => dyno.test(s);

/** The process type of a dyno name (`web.1` → `web`). */
export const typeOfDyno = (d: string): string => d.slice(0, d.lastIndexOf('.'));
