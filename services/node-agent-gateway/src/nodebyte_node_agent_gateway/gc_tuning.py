"""The cyclic garbage collector tuned for thousands of long-lived agent connections.

Each agent connection keeps a few thousand GC-tracked objects alive (protocol
objects, tasks and their frames, queues, futures), so 10,000 agents make a heap
of millions of objects that live for hours. CPython's default thresholds
(700, 10, 10) run a young collection every 700 net allocations and consider a
full one every 100 of those; every frame replaces a few futures that live until
the next frame and so reach the old generation, which keeps the full
collections coming. Profiled at 9,000 agents, full collections over that heap
took ~40 % of the process's CPU and stalled the event loop for whole seconds
(handshakes timed out, commands waited).

So: what exists at start-up (imported code, the app) is frozen out of every
collection; young collections run every `YOUNG` allocations, so transient
per-frame objects die before they are looked at; and a full collection is
considered only every `YOUNG * MIDDLE * OLD` allocations (still gated by
CPython's own rule: the old generation grew by a quarter since the last one).
Reference counting frees everything without cycles as before; cyclic garbage
waits longer, which costs some memory, not correctness.
"""

from __future__ import annotations

import gc

YOUNG = 50_000
MIDDLE = 20
OLD = 20


def tune_for_many_connections() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
