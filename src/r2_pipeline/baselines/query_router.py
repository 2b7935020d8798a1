"""A query-level router in the style of RouteLLM / LLMRouter: kNN over question text picks one member.

For each member it estimates P(correct | question) as the mean outcome of the k nearest training
questions (TF-IDF of words and character n-grams), then picks the cheapest member whose estimate
reaches `threshold`, or the member with the best estimate when none does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class KNNQueryRouter:
    def __init__(self, ladder: Sequence[str], k: int = 25, threshold: float = 0.9):
        self.ladder = list(ladder)
        self.k = k
        self.threshold = threshold

    def fit(self, questions: Sequence[str], outcomes: np.ndarray) -> KNNQueryRouter:
        """outcomes[i, m]: 1 when ladder member m solved training question i end to end."""
        # sklearn (and the scipy it loads) only where a query router is fitted: the evaluation's
        # nodes import this module, also in runs without this method and in the estimate's
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.neighbors import NearestNeighbors

        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
        features = self.vectorizer.fit_transform(questions)
        self.index = NearestNeighbors(n_neighbors=min(self.k, len(questions)), metric="cosine").fit(features)
        self.outcomes = np.asarray(outcomes, dtype=float)
        return self

    def estimate(self, questions: Sequence[str]) -> np.ndarray:
        _, neighbours = self.index.kneighbors(self.vectorizer.transform(questions))
        return self.outcomes[neighbours].mean(axis=1)

    def choose(self, questions: Sequence[str], threshold: float | None = None) -> list[str]:
        """Per question, the cheapest member estimated to reach `threshold` (default: the router's)."""
        threshold = self.threshold if threshold is None else threshold
        chosen = []
        for row in self.estimate(questions):
            good = np.flatnonzero(row >= threshold)
            chosen.append(self.ladder[good[0]] if len(good) else self.ladder[int(row.argmax())])
        return chosen
