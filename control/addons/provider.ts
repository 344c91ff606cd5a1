/**
 * An add-on provider: the plug-in that creates a real backing resource (a
 * database, a Redis user) for one add-on and says how to reach it. Modelled on
 * Heroku's Partner API: provisioning is keyed by the add-on's id and may be
 * retried (at-least-once), so `provision` with an id it has seen returns the
 * same resource instead of creating a second one; `deprovision` of a resource
 * that is already gone succeeds.
 */
import { createHmac } from 'node:crypto';

export interface ProvisionRequest {
  app: string;
  /** A plan the provider lists in `plans`. */
  plan: string;
  /** `--key value` options from `addons:create` (provider-specific; unknown keys are refused). */
  options: Record<string, string>;
  /** The add-on's id (a UUID): the idempotency key. */
  id: string;
}

export interface Provisioned {
  /** Config vars, every name starting with `<configVarsPrefix>_` (e.g. `DATABASE_URL`). */
  config: Record<string, string>;
  /** One line for the user ("Database has been created and is available"). */
  message?: string;
}

export interface AddonProvider {
  /** Service name users type: `postgresql`, `redis`. */
  readonly service: string;
  readonly plans: readonly string[];
  readonly defaultPlan: string;
  /** Default attachment name and config var prefix (Heroku's manifest `config_vars_prefix`). */
  readonly configVarsPrefix: string;
  provision(req: ProvisionRequest): Promise<Provisioned>;
  /** Removes the resource and its data; succeeds when it no longer exists. */
  deprovision(id: string): Promise<void>;
  changePlan?(id: string, plan: string): Promise<void>;
  /** Where the provider's server is, for messages (never with credentials). */
  describe(): string;
}

/**
 * A provider refused or could not do the work. `message` is one line for the
 * user; `unavailable` means the backing server could not be reached (503).
 */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
  }
}

/**
 * The password of an add-on's credentials: an HMAC of its id under a secret only
 * control holds (derived from the cluster key). Unguessable like a random one, and
 * the same on every retry of `provision`, so a retried request hands out the
 * credentials the first attempt set instead of breaking them.
 */
export function credentialPassword(secret: Buffer, service: string, id: string): string {
  return createHmac('sha256', secret).update(`dynomesh-addon-password\0${service}\0${id}`).digest('base64url');
}

/** A short resource name from an add-on id: `dm_` + the UUID's 32 hex digits (valid in SQL and Redis ACLs). */
export function resourceName(id: string): string {
  const hex = id.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new ProviderError(`add-on id ${JSON.stringify(id)} is not a UUID`);
  return `dm_${hex}`;
}

/** Turns a socket error into the one line a user sees when the provider's server is down. */
export function unreachable(service: string, where: string, err: unknown): ProviderError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ETIMEDOUT' || /timeout/i.test(e.message ?? '') ? 'timed out' : (e.code ?? e.message);
  return new ProviderError(`the ${service} add-on server at ${where} is unreachable (${why}); nothing was changed. Try again later or ask the operator to check it.`, true);
}

export function isNetworkError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(code) ||
    /timeout|Connection terminated/i.test((err as Error).message ?? '');
}
