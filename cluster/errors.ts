/** Errors of the cluster contract, each with a stable code scripts and logs can match on. */

export class ClusterError extends Error {
  override name = 'ClusterError';
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A stored value that this version of dynomesh cannot read. Names the key; never fatal to a watcher. */
export class DecodeError extends ClusterError {
  override name = 'DecodeError';
  constructor(readonly key: string, readonly reason: string) {
    super('DM_DECODE', `cannot decode ${key}: ${reason}`);
  }
}

/** A compare-and-swap transaction lost to a concurrent writer. */
export class ConflictError extends ClusterError {
  override name = 'ConflictError';
  constructor(message: string) {
    super('DM_CONFLICT', message);
  }
}

/** etcd could not be reached (or answered with an unavailable error). */
export class UnavailableError extends ClusterError {
  override name = 'UnavailableError';
  constructor(message: string, cause?: unknown) {
    super('DM_ETCD_UNAVAILABLE', message, { cause });
  }
}

/** The leader's lease is gone or it lost an election: it must stop writing. */
export class NotLeaderError extends ClusterError {
  override name = 'NotLeaderError';
  constructor() {
    super('DM_NOT_LEADER', 'election: not leader');
  }
}
