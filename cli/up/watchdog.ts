/**
 * `dynomesh up` sets DYNOMESH_SUPERVISOR_PID in its children. If `up` is killed
 * outright (SIGKILL, a closed terminal), a child notices its parent is gone and
 * sends itself SIGTERM, so it shuts down as cleanly as on Ctrl-C instead of
 * lingering as an orphan.
 */
export function watchParent(intervalMs = 1000): void {
  const want = Number(process.env.DYNOMESH_SUPERVISOR_PID);
  if (!want) return;
  delete process.env.DYNOMESH_SUPERVISOR_PID; // dynos started by this process must not inherit it
  const timer = setInterval(() => {
    if (process.ppid !== want) {
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, intervalMs);
  timer.unref();
}
