"""Items of one write job that share a key: an upload's external id, a create's
`Idempotency-Key`.

The job tries its items in rounds. The first round tries, in batch order, every item
without a key and the first item of each key; the other items of a key wait in their
order. After a round, each key's waiting items are answered from its outcome while they
can be (an entry created under the key answers its repeats); the first that cannot is
tried in the next round, after the whole of this one, so that an item tried again never
changes the hour-cap checks of the items that follow it in the batch. Each round tries
at least one item and each item is looked at once, so the rounds end, and a batch of one
key repeated n times costs n rounds of one item, not n² looks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def in_rounds(
    pending: Sequence[int],
    key_of: Callable[[int], K | None],
    attempt: Callable[[list[int]], None],
    answered: Callable[[int, K], bool],
) -> None:
    """Try the items `pending` names (in batch order) in rounds: `attempt` decides a
    round's items and records their outcomes; after it, `answered(item, key)` answers
    a waiting item from its key's outcome and says whether it did."""
    taken: list[int] = []
    waiting: dict[K, deque[int]] = {}
    for item in pending:
        key = key_of(item)
        if key is None:
            taken.append(item)
        elif key in waiting:
            waiting[key].append(item)
        else:
            waiting[key] = deque()
            taken.append(item)
    while taken:
        attempt(taken)
        taken = []
        for key, queue in list(waiting.items()):
            while queue and answered(queue[0], key):
                queue.popleft()
            if queue:
                taken.append(queue.popleft())
            else:
                del waiting[key]
        taken.sort()
