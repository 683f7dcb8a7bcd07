"""An exact set of 64-bit hashes in one flat array: what dedupe keeps per distinct row or prompt.

A Python `set` of ints costs ~60 bytes an entry (an int object each plus the table slot); this
open-addressing table costs 8 bytes a slot at most 60% full (~13-27 bytes an entry), which is what
lets the gate and GRPO's prompt dedupe walk millions of rows in tens of MB.
"""

from __future__ import annotations

from array import array

_EMPTY = 0


class HashSet:
    """`add(h)` returns True when `h` is new.

    >>> s = HashSet(); s.add(hash("a")), s.add(hash("a")), len(s)
    (True, False, 1)
    """

    __slots__ = ("_table", "_mask", "_size", "_limit")

    def __init__(self, capacity_log2: int = 12):
        self._table = array("q", bytes(8 << capacity_log2))
        self._mask = (1 << capacity_log2) - 1
        self._size = 0
        self._limit = (self._mask + 1) * 3 // 5

    def add(self, h: int) -> bool:
        if h == _EMPTY:
            h = 1  # 0 marks an empty slot; hash() returns 0 only for a few values, 1 is as good
        table, mask = self._table, self._mask
        i = h & mask
        while True:  # linear probing: hash() values are well mixed (SipHash)
            v = table[i]
            if v == h:
                return False
            if v == _EMPTY:
                break
            i = (i + 1) & mask
        table[i] = h
        self._size += 1
        if self._size > self._limit:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._table
        self._mask = mask = (self._mask << 1) | 1
        self._table = table = array("q", bytes(8 * (mask + 1)))
        self._limit = (mask + 1) * 3 // 5
        for h in old:
            if h != _EMPTY:
                i = h & mask
                while table[i] != _EMPTY:
                    i = (i + 1) & mask
                table[i] = h

    def __len__(self) -> int:
        return self._size

    def __contains__(self, h: int) -> bool:
        h = h or 1
        table, mask = self._table, self._mask
        i = h & mask
        while True:
            v = table[i]
            if v == h:
                return True
            if v == _EMPTY:
                return False
            i = (i + 1) & mask
