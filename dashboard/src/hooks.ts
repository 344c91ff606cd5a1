/** Loading API resources in views: once, or polled while the view is shown. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  /** The HTTP status of the last failure, when it was one. */
  status: number | undefined;
  reload: () => void;
}

/** Calls `load` now, again every `pollMs` (if given) and on `reload()`; keeps the last good data through a failed poll. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<{ message: string; status?: number } | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => setData(undefined), deps);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let first = true;
    const run = async () => {
      // A hidden tab skips its polls (and catches up when shown: the next poll is at most pollMs away).
      if (!first && document.hidden) {
        timer = setTimeout(run, pollMs);
        return;
      }
      first = false;
      try {
        const d = await loadRef.current();
        if (!live) return;
        setData(d);
        setError(undefined);
      } catch (err) {
        if (!live) return;
        const e = err as Error & { status?: number };
        setError({ message: e.message, ...(e.status !== undefined ? { status: e.status } : {}) });
      }
      if (live && pollMs) timer = setTimeout(run, pollMs);
    };
    void run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error: error?.message, status: error?.status, reload };
}

/** Runs an action (a button's), tracking that it is busy and what it said when it failed. */
export function useAction(): { busy: boolean; error: string | undefined; run: (fn: () => Promise<unknown>) => Promise<boolean> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError((err as Error).message);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}
