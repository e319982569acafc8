"""The rounds in which a write job tries items that share a key."""

from __future__ import annotations

from timesheets.api.repeats import in_rounds


def rounds_of(keys: list[str | None], refused: set[int]) -> tuple[list[list[int]], dict[int, int]]:
    """The rounds `in_rounds` tries for items with these keys, the `refused` ones failing;
    and each answered repeat's item, with the item created under its key."""
    tried: list[list[int]] = []
    created: dict[str, int] = {}
    answers: dict[int, int] = {}

    def attempt(items: list[int]) -> None:
        tried.append(items)
        for item in items:
            key = keys[item]
            if item not in refused and key is not None:
                created[key] = item

    def answered(item: int, key: str) -> bool:
        if key in created:
            answers[item] = created[key]
        return key in created

    in_rounds(range(len(keys)), lambda item: keys[item], attempt, answered)
    return tried, answers


def test_the_first_of_each_key_is_tried_and_answers_its_repeats() -> None:
    assert rounds_of(["a", None, "b", "a", None, "b", "a"], set()) == (
        [[0, 1, 2, 4]],
        {3: 0, 5: 2, 6: 0},
    )


def test_a_repeat_of_a_refused_item_is_tried_in_a_round_of_its_own() -> None:
    keys: list[str | None] = ["a", "b", "a", "c", "a", "b"]
    assert rounds_of(keys, {0}) == ([[0, 1, 3], [2]], {4: 2, 5: 1})


def test_refused_repeats_are_tried_one_round_each_until_one_is_created() -> None:
    keys: list[str | None] = ["a", "a", "b", "a", "b", "a"]
    assert rounds_of(keys, {0, 1, 2}) == ([[0, 2], [1, 4], [3]], {5: 3})


def test_repeats_that_are_all_refused_are_each_tried_once() -> None:
    keys: list[str | None] = ["a", "a", "a"]
    assert rounds_of(keys, {0, 1, 2}) == ([[0], [1], [2]], {})


def test_nothing_pending_tries_nothing() -> None:
    assert rounds_of([], set()) == ([], {})


def test_each_waiting_item_is_looked_at_once() -> None:
    """A key repeated n times and refused every time: n rounds of one item, and each
    repeat asked about once, not once a round."""
    size = 500
    tried: list[list[int]] = []
    asked: list[int] = []

    def answered(item: int, _key: str) -> bool:
        asked.append(item)
        return False

    in_rounds(range(size), lambda _item: "a", tried.append, answered)
    assert tried == [[item] for item in range(size)]
    assert asked == list(range(1, size))
