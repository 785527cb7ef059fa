"""numpy's BLAS held to one thread where sgtui's products are small (any layer may use this).

A threaded BLAS splits even a 400 × 400 product, and OpenBLAS's helper thread then spins
waiting for the next one: on a busy machine a re-cluster's products took 10 ms instead of
0.4 ms, and while embedding the spinning cost ~1 s of CPU per 329 lines that the decoding
process and the network needed. One thread also makes results independent of the core
count (OpenBLAS's split changed vectors by up to 3e-7).
"""

from __future__ import annotations

import contextlib

_CONTROLLER: list = []  # threadpoolctl's controller, made once (inspecting the libraries is slow)


def one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which numpy's BLAS (and a process forked inside it) uses one thread."""
    from threadpoolctl import ThreadpoolController

    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")
