"""genmetrics on a Dask cluster: ``backend="dask"`` runs every metric's engine calls as block-pair tasks.

Usage::

    import genmetrics as gm
    from genmetrics.distributed import Cluster

    with Cluster(n_workers=4):                        # a LocalCluster; Cluster(address="tcp://host:8786") joins one
        gm.prdc(real, fake, backend="dask")           # the same numbers as backend="cpu"
    with gm.distributed.options(client=client, block_rows=20_000):
        gm.evaluate(real, fake, backend="dask")

The client: the one of :func:`options`, else the one in scope (``distributed.get_client()``: any
``distributed.Client`` made in this process). Inputs: NumPy arrays, memmaps or Dask arrays (validated and
prepared on the client, in the frame of the whole sets, then sent to the workers once in blocks of rows). Progress:
the Dask dashboard (``client.dashboard_link``). Dask (``pip install genmetrics[dask]``) is imported only when used.
See :mod:`genmetrics.distributed.engine` for what the tasks compute and how their results merge exactly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Cluster", "options"]


def options(*, client=None, block_rows=None):
    """Context manager: ``backend="dask"`` within it runs on ``client`` with blocks of ``block_rows`` rows.

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster to run on; None: the client in scope.
    block_rows : int, optional
        Rows per block; None: derived from the workers' memory limits. Smaller blocks: less memory per task.
    """
    from .engine import options as engine_options  # noqa: PLC0415 (needs dask)

    return engine_options(client=client, block_rows=block_rows)


class Cluster:
    """A Dask client for genmetrics: a LocalCluster of ``n_workers`` processes, or a scheduler's ``address``.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes of a LocalCluster (default 2); ignored with ``address``.
    address : str, optional
        A running scheduler ("tcp://host:8786") to connect to instead.
    threads_per_worker : int, optional
        Threads of each local worker (default 1: each task runs the engine on one thread).
    memory_limit : str or int, optional
        Memory of each local worker ("auto": the machine's memory shared out).

    The client becomes the default one (``backend="dask"`` finds it); ``close()`` or the end of a ``with`` block
    closes it and any cluster it started.
    """

    def __init__(self, n_workers=2, *, address=None, threads_per_worker=1, memory_limit="auto"):
        try:
            from distributed import Client, LocalCluster  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError("Cluster: needs Dask: pip install 'genmetrics[dask]'") from exc
        self.cluster: Any = None
        if address is not None:
            if not isinstance(address, str):
                raise TypeError(f"address: expected a scheduler address string, got {type(address).__name__}")
            self.client = Client(address)
        else:
            if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
                raise ValueError(f"n_workers: expected an int >= 1, got {n_workers!r}")
            self.cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                memory_limit=memory_limit,
                dashboard_address=None,
            )
            self.client = Client(self.cluster)

    def close(self) -> None:
        """Close the client and the cluster this object started."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self.client

    def __exit__(self, *exc) -> None:
        self.close()
