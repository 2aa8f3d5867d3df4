"""arrayqueues_swift: named shared-memory queues of numpy arrays, the Python face of ArrayQueues.

The queue protocol is implemented once, in Swift (the ArrayQueues package); this package calls
its C interface (``arrayqueues.h``, ``libArrayQueuesC.so``) through a small extension module,
so Python, Swift and C processes share the same queues.

Two layers:

- :mod:`arrayqueues_swift.shared_arrays`: a drop-in replacement for the ``arrayqueues`` package
  (``ArrayQueue(max_mbytes)``, ``TimestampedArrayQueue``, ``IndexedArrayQueue``).
- This module, the native API::

      import numpy as np
      from arrayqueues_swift import ArrayQueue

      with ArrayQueue.create("camera0", 256 << 20, remove=True) as queue:
          queue.put(np.zeros((480, 640), np.uint16), index=0)
          frame = queue.get(timeout=1.0)                   # an array the caller owns
          with queue.loan((480, 640), np.uint16) as slot:  # write in place (zero-copy)
              slot[:] = 7
          with queue.borrow(timeout=1.0) as view:          # read in place (zero-copy, read-only)
              total = int(view.sum())

  :class:`Sender` and :class:`Receiver` move messages of named arrays over ``shm://``,
  ``tcp://`` and ``ipc://`` endpoints (ArrayTransport).

Errors are subclasses of :class:`ArrayQueuesError` and of the built-in exception with the same
meaning (``queue.Full``, ``queue.Empty``, ``TimeoutError``, ``FileNotFoundError``, ...).
"""

from ._loader import load_bundled_libraries as _load_bundled_libraries

_load_bundled_libraries()

from . import _native  # noqa: E402  (after the bundled libraries are loaded)
from .errors import *  # noqa: E402,F401,F403
from .errors import CODES as _CODES, ArrayQueuesError  # noqa: E402
from .queue import DTYPES, ArrayQueue, BorrowedArray, LoanedArray, QueueStatistics, Record  # noqa: E402
from .broadcast import Subscriber  # noqa: E402
from .transport import Message, Receiver, Sender, curve_keypair  # noqa: E402

_native._set_errors(_CODES, ArrayQueuesError)

#: The version of this package.
__version__ = "0.1.0"
#: The version of the Swift library it runs on.
library_version: str = _native.LIBRARY_VERSION

__all__ = [
    "ArrayQueue", "Record", "QueueStatistics", "LoanedArray", "BorrowedArray", "DTYPES", "Subscriber",
    "Sender", "Receiver", "Message", "curve_keypair", "library_version", "ArrayQueuesError",
] + list(errors.__all__)  # noqa: F405
