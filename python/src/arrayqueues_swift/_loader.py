"""Loads the shared libraries bundled with the package before the extension module.

A wheel carries ``libArrayQueuesC.so`` and the libraries it needs that a machine may lack (the
Swift runtime, libzmq and its dependencies) in ``_libs/``, listed in ``load-order.txt`` with
every library after those it needs. Loading them in that order by path makes the dynamic
loader find each by its soname when the next one asks for it, so the package needs neither
Swift nor libzmq installed, nor ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY_DIR = os.path.join(_HERE, "_libs")

#: The bundled libraries, loaded (kept referenced so that they stay loaded).
loaded: list[ctypes.CDLL] = []


def load_bundled_libraries() -> None:
    order = os.path.join(LIBRARY_DIR, "load-order.txt")
    if loaded or not os.path.exists(order):
        return
    with open(order) as names:
        for name in (line.strip() for line in names):
            if name:
                loaded.append(ctypes.CDLL(os.path.join(LIBRARY_DIR, name)))
