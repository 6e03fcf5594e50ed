"""Scale-out measurement: a Dask distributed executor (same `map` contract as `LocalExecutor`).

    ex = DaskExecutor("tcp://scheduler:8786")      # workers on many machines
    ex = DaskExecutor(LocalCluster(n_workers=2))   # tests / one machine

Jobs are the same picklable functions over plain dicts; Dask ships them (cloudpickle on the
wire, never in a file of ours). A job that raises or exceeds `timeout` is a typed result.
"""

from __future__ import annotations

from compiler.tune.measure import MeasureResult, Status


class DaskExecutor:
    def __init__(self, scheduler) -> None:
        from distributed import Client

        self._own_client = True
        self.client = Client(scheduler) if not hasattr(scheduler, "submit") else scheduler
        if hasattr(scheduler, "submit"):
            self._own_client = False

    def map(self, fn, jobs: list[dict], timeout: float | None = None) -> list[dict]:
        from distributed import wait

        futs = self.client.map(fn, jobs, pure=False)
        try:
            wait(futs, timeout=None if timeout is None else timeout * max(1, len(jobs)))
        except TimeoutError:
            pass  # the unfinished ones become TIMEOUT results below
        out = []
        for f in futs:
            if f.status == "finished":
                out.append(f.result())
            elif f.status == "error":
                e = f.exception()
                out.append(
                    MeasureResult(Status.RUNTIME_ERROR, error=f"{type(e).__name__}: {e}").to_dict()
                )
            else:
                f.cancel()
                out.append(
                    MeasureResult(Status.TIMEOUT, error=f"no result in {timeout} s").to_dict()
                )
        return out

    def close(self) -> None:
        if self._own_client:
            self.client.close()
