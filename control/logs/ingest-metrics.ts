/**
 * Counters of the log ingestion port, served as Prometheus text on the API's
 * `GET /metrics` (admin). Refusals are counted by reason, never logged one by
 * one: a hostile producer must not be able to flood the control's own log.
 */
export type RefusedConnection = 'bad-credential' | 'no-credential' | 'bad-frame' | 'auth-timeout';
export type RefusedRecord = 'unknown-app' | 'not-allowed' | 'invalid';

export class IngestMetrics {
  connections = 0;
  readonly refusedConnections: Record<RefusedConnection, number> = { 'bad-credential': 0, 'no-credential': 0, 'bad-frame': 0, 'auth-timeout': 0 };
  records = 0;
  readonly refusedRecords: Record<RefusedRecord, number> = { 'unknown-app': 0, 'not-allowed': 0, invalid: 0 };
  /** Times a connection stopped being read because its producer did not read its acks. */
  paused = 0;

  text(): string {
    const out = [
      '# HELP dynomesh_log_connections_total Producer connections accepted by the log service.',
      '# TYPE dynomesh_log_connections_total counter',
      `dynomesh_log_connections_total ${this.connections}`,
      '# HELP dynomesh_log_connections_refused_total Producer connections closed before or instead of ingesting.',
      '# TYPE dynomesh_log_connections_refused_total counter',
      ...Object.entries(this.refusedConnections).map(([r, n]) => `dynomesh_log_connections_refused_total{reason="${r}"} ${n}`),
      '# HELP dynomesh_log_records_total Log records stored or forwarded.',
      '# TYPE dynomesh_log_records_total counter',
      `dynomesh_log_records_total ${this.records}`,
      '# HELP dynomesh_log_records_refused_total Log records dropped at ingestion.',
      '# TYPE dynomesh_log_records_refused_total counter',
      ...Object.entries(this.refusedRecords).map(([r, n]) => `dynomesh_log_records_refused_total{reason="${r}"} ${n}`),
      '# HELP dynomesh_log_connections_paused_total Times a producer connection was paused because it did not read its acks.',
      '# TYPE dynomesh_log_connections_paused_total counter',
      `dynomesh_log_connections_paused_total ${this.paused}`,
    ];
    return out.join('\n') + '\n';
  }
}
