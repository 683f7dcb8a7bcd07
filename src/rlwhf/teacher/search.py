"""Search context without the internet: Okapi BM25 over a local JSONL corpus of passages, pure Python.

Corpus rows: {"id": str (optional, default "<file line>"), "text": str, "title": str (optional)}.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

from rlwhf.data.io import iter_objects
from rlwhf.errors import RlwhfError


_TOKEN = re.compile(r"\w+", re.UNICODE)
# Words that match everything carry no evidence; a short list keeps scores readable.
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its of on or that the this to "
    "was were what when where which who whom why will with".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stop words.

    >>> tokenize("What is the capital of France?")
    ['capital', 'france']
    """
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class BM25Index:
    """Okapi BM25 (k1=1.5, b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))).

    >>> idx = BM25Index([{"id": "p1", "text": "Paris is the capital of France."},
    ...                  {"id": "p2", "text": "Spiders have eight legs."}])
    >>> [p["id"] for p in idx.search("capital of France", k=1)]
    ['p1']
    """

    def __init__(self, passages: list[dict], k1: float = 1.5, b: float = 0.75):
        self.passages = passages
        self.k1, self.b = k1, b
        self._tf = [Counter(tokenize(f"{p.get('title', '')} {p['text']}")) for p in passages]
        self._len = [sum(tf.values()) for tf in self._tf]
        self._avg = (sum(self._len) / len(self._len)) if self._len else 0.0
        df: Counter = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(passages)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._postings: dict[str, list[int]] = {}
        for i, tf in enumerate(self._tf):
            for t in tf:
                self._postings.setdefault(t, []).append(i)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> "BM25Index":
        """An index over a JSONL corpus of passages (see `read_passages`)."""
        return cls(read_passages(path))

    def search(self, query: str, k: int = 3) -> list[dict]:
        """The top `k` passages with a positive score: {"id", "text", "score"}, best first."""
        scores: dict[int, float] = {}
        for t in set(tokenize(query)):
            idf = self._idf.get(t)
            if idf is None:
                continue
            for i in self._postings[t]:
                tf = self._tf[i][t]
                norm = tf + self.k1 * (1 - self.b + self.b * self._len[i] / self._avg)
                scores[i] = scores.get(i, 0.0) + idf * tf * (self.k1 + 1) / norm
        best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [{"id": self.passages[i]["id"], "text": self.passages[i]["text"], "score": round(s, 4)}
                for i, s in best]


def read_passages(path: str | Path) -> list[dict]:
    """Search corpus rows {"id" (default "file:line"), "text", "title" (optional)}."""
    passages = []
    for where, obj in iter_objects(path, "passage"):
        if not isinstance(obj.get("text"), str) or not obj["text"].strip():
            raise RlwhfError(f"{where}: a passage needs a non-empty string 'text'")
        passage = {"id": str(obj.get("id", f"{Path(path).name}:{where.rsplit(':', 1)[1]}")), "text": obj["text"]}
        if isinstance(obj.get("title"), str):
            passage["title"] = obj["title"]
        passages.append(passage)
    if not passages:
        raise RlwhfError(f"{path}: the search corpus has no passages")
    return passages
