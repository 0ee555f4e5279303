"""Attacks as pure functions over (vectors, labels).

Vectors are compared by cosine similarity (rows are L2-normalised first). Every figure comes
with the chance level it must be read against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(vectors, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _identity_scores(
    similarities: np.ndarray, gallery_labels: np.ndarray, identities: np.ndarray
) -> np.ndarray:
    """(queries, identities): the best similarity to any gallery sample of each identity."""
    scores = np.full((similarities.shape[0], len(identities)), -np.inf)
    for column, identity in enumerate(identities):
        mask = gallery_labels == identity
        if mask.any():
            scores[:, column] = similarities[:, mask].max(axis=1)
    return scores


def identification(
    gallery: np.ndarray,
    labels: Sequence[Any],
    queries: np.ndarray | None = None,
    ks: tuple[int, ...] = (1, 5),
) -> dict[str, float]:
    """Nearest-neighbour linkage, leave-one-out: the share of samples whose identity ranks in
    the top k identities by best cosine similarity to the *other* samples, next to chance
    (k / identities). ``queries`` (row i is a version of gallery row i, e.g. what the
    appliance stores while the attacker holds the clean ``gallery``) are matched against the
    gallery minus their own row. Samples whose identity has no other sample are skipped."""
    y = np.asarray(labels)
    q = unit(gallery if queries is None else queries)
    similarities = q @ unit(gallery).T
    np.fill_diagonal(similarities, -np.inf)
    identities, counts = np.unique(y, return_counts=True)
    usable = counts[np.searchsorted(identities, y)] > 1
    if not usable.any():
        raise ValueError("identification needs at least one identity with two samples")
    scores = _identity_scores(similarities[usable], y, identities)
    order = np.argsort(-scores, axis=1, kind="stable")
    truth = np.searchsorted(identities, y[usable])
    ranks = np.argmax(order == truth[:, None], axis=1)  # 0-based rank of the true identity
    result: dict[str, float] = {"queries": float(usable.sum()), "identities": len(identities)}
    for k in ks:
        result[f"top{k}"] = float((ranks < k).mean())
        result[f"chance_top{k}"] = min(k, len(identities)) / len(identities)
    return result


def verification(
    vectors: np.ndarray, labels: Sequence[Any], far: float = 0.001
) -> dict[str, float]:
    """Same-person verification by cosine score over every pair: the equal error rate and
    the true accept rate at false accept rate ``far`` (with fewer than 1/far impostor pairs
    the threshold is the best impostor score, i.e. a false accept rate of 0)."""
    x = unit(vectors)
    y = np.asarray(labels)
    upper = np.triu_indices(len(y), k=1)
    scores = (x @ x.T)[upper]
    genuine = (y[:, None] == y[None, :])[upper]
    if genuine.all() or not genuine.any():
        raise ValueError("verification needs both same-identity and different-identity pairs")
    impostor = np.sort(scores[~genuine])[::-1]
    genuine_scores = scores[genuine]
    thresholds = np.unique(scores)[::-1]
    far_at = np.searchsorted(-impostor, -thresholds, side="right") / len(impostor)
    frr_at = 1.0 - (genuine_scores[None, :] >= thresholds[:, None]).mean(axis=1)
    best = int(np.argmin(np.abs(far_at - frr_at)))
    eer = float((far_at[best] + frr_at[best]) / 2)
    allowed = int(np.floor(far * len(impostor)))  # impostors that may score above it
    tar = float((genuine_scores > impostor[allowed]).mean())
    return {
        "eer": eer,
        f"tar_at_far_{far:g}": tar,
        "genuine_pairs": float(genuine.sum()),
        "impostor_pairs": float(len(impostor)),
    }


def _folds(labels: np.ndarray) -> int:
    _, counts = np.unique(labels, return_counts=True)
    return int(max(2, min(5, counts.min())))


def identity_probe(vectors: np.ndarray, labels: Sequence[Any], seed: int = 0) -> dict[str, float]:
    """A trained linear probe (logistic regression) from vectors to identities: stratified
    cross-validated accuracy next to the majority-class share."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    y = np.asarray(labels)
    _, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ValueError("the identity probe needs at least two samples per identity")
    folds = StratifiedKFold(n_splits=_folds(y), shuffle=True, random_state=seed)
    model = LogisticRegression(max_iter=2000, C=10.0)
    accuracy = cross_val_score(model, unit(vectors), y, cv=folds).mean()
    return {"accuracy": float(accuracy), "majority": float(counts.max() / len(y))}


def attribute_probe(vectors: np.ndarray, values: Sequence[Any], seed: int = 0) -> dict[str, float]:
    """Attribute inference: a logistic probe's cross-validated ROC AUC (one-vs-rest macro for
    more than two values) next to the majority baseline (AUC 0.5, majority accuracy)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.asarray(values)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        raise ValueError("an attribute probe needs two values with at least two samples each")
    folds = StratifiedKFold(n_splits=_folds(y), shuffle=True, random_state=seed)
    model = LogisticRegression(max_iter=2000)
    proba = cross_val_predict(model, unit(vectors), y, cv=folds, method="predict_proba")
    if len(classes) == 2:
        auc = roc_auc_score(y == classes[1], proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    return {"auc": float(auc), "baseline_auc": 0.5, "majority": float(counts.max() / len(y))}


def averaging_attack(
    clean: np.ndarray, query: Callable[[int], np.ndarray], repeats: int
) -> dict[str, float]:
    """Query a defence ``repeats`` times (``query(i)`` returns the i-th answer for one
    input, shape (d,)); the cosine distance to the clean vector of one answer and of the
    renormalised mean of all answers. ``gain`` > 1 means repetition bought the attacker
    something."""
    target = unit(np.asarray(clean).reshape(1, -1))[0]
    answers = unit(np.vstack([query(i) for i in range(repeats)]))
    single = 1.0 - float(answers[0] @ target)
    mean = unit(answers.mean(axis=0, keepdims=True))[0]
    averaged = 1.0 - float(mean @ target)
    return {
        "single_distance": single,
        "averaged_distance": averaged,
        "gain": single / max(averaged, 1e-12),
        "repeats": float(repeats),
    }


def neighbour_recall(clean: np.ndarray, defended: np.ndarray, k: int = 10) -> float:
    """Utility: recall@k of a retrieval over the defended vectors against the clean
    vectors' own top-k neighbours (each vector queries all others)."""
    n = len(clean)
    k = min(k, n - 1)
    if k < 1:
        raise ValueError("neighbour recall needs at least two vectors")

    def top(x: np.ndarray) -> np.ndarray:
        s = unit(x) @ unit(x).T
        np.fill_diagonal(s, -np.inf)
        return np.argsort(-s, axis=1)[:, :k]

    truth, found = top(clean), top(defended)
    hits = sum(len(set(a) & set(b)) for a, b in zip(truth, found, strict=True))
    return hits / (n * k)
