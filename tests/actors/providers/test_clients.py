"""ClientCache: one client per key, built once even when threads race for it."""

from __future__ import annotations

import threading

from actors.providers.clients import ClientCache


class Client:
    def __init__(self, key: str) -> None:
        self.key = key
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_one_client_per_key_even_under_concurrency() -> None:
    built: list[str] = []
    cache = ClientCache(lambda key: built.append(key) or Client(key))
    start = threading.Barrier(8)
    results: list[Client] = []

    def fetch() -> None:
        start.wait()
        results.append(cache.get("k1"))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert built == ["k1"] and len({id(c) for c in results}) == 1
    assert cache.get("k2").key == "k2" and len(cache) == 2


def test_close_closes_every_client_and_is_safe_twice() -> None:
    cache = ClientCache(Client)
    clients = [cache.get("a"), cache.get("b")]
    cache.close()
    cache.close()
    assert all(c.closed for c in clients) and len(cache) == 0
