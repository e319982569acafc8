"""Items of one write job that share a key: an upload's external id, a create's
`Idempotency-Key`.

The job tries its items in rounds. A round tries, in batch order, every item without a
key and the first waiting item of each key; the other items of a key wait for its
outcome. A waiting item that outcome answers (an entry created under the key answers
its repeats) is done; the others are tried in the next round, after the whole of this
one, so that an item tried again never changes the hour-cap checks of the items that
follow it in the batch. Each round tries at least one item, so the rounds end.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def in_rounds(
    pending: Sequence[int],
    key_of: Callable[[int], K | None],
    attempt: Callable[[list[int]], None],
    answered: Callable[[int, K], bool],
) -> None:
    """Try the items `pending` names (in batch order) in rounds: `attempt` stores a
    round's items and records their outcomes; after it, `answered(item, key)` answers
    a waiting item from its key's outcome and says whether it did."""
    waiting = list(pending)
    while waiting:
        taken: list[int] = []
        later: list[tuple[int, K]] = []
        keys: set[K] = set()
        for item in waiting:
            key = key_of(item)
            if key is None or key not in keys:
                taken.append(item)
                if key is not None:
                    keys.add(key)
            else:
                later.append((item, key))
        attempt(taken)
        waiting = [item for item, key in later if not answered(item, key)]
