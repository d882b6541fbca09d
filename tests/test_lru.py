"""The byte-budget LRU behind the in-memory caches: recency, the budget, replacement."""

from mirror.lru import ByteBudgetLRU


def test_the_least_recently_used_goes_first_when_the_budget_is_exceeded() -> None:
    cache = ByteBudgetLRU(budget=6)
    cache.put("a", b"aa")
    cache.put("b", b"bb")
    cache.put("c", b"cc")
    assert cache.get("a") == b"aa"  # now the most recently used
    cache.put("d", b"dd")
    assert cache.get("b") is None
    assert [cache.get(key) for key in "acd"] == [b"aa", b"cc", b"dd"]


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = ByteBudgetLRU(budget=4)
    for _ in range(3):
        cache.put("a", b"aa")
    cache.put("b", b"bb")
    assert cache.get("a") == b"aa"
    assert cache.get("b") == b"bb"


def test_an_item_larger_than_the_budget_is_not_kept() -> None:
    cache = ByteBudgetLRU(budget=4)
    cache.put("a", b"aa")
    cache.put("huge", b"x" * 5)
    assert cache.get("huge") is None
    assert cache.get("a") is None


def test_a_popped_key_frees_its_bytes() -> None:
    cache = ByteBudgetLRU(budget=4)
    cache.put("a", b"aaaa")
    cache.pop("a")
    cache.pop("absent")
    cache.put("b", b"bb")
    cache.put("c", b"cc")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, b"bb", b"cc")
