"""Test-set metrics from predicted probabilities (numpy only, so they can be checked by hand)."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # Keras clips probabilities the same way in binary cross-entropy


def binary_cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    p = np.clip(probabilities.astype(np.float64), EPSILON, 1 - EPSILON)
    y = labels.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve: the chance that a random positive outranks a random negative
    (ties count half). None when the test set has only one class."""
    labels = labels.astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over ties
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5) -> dict:
    """Loss, accuracy, precision, recall (class 1 is positive), ROC AUC and the confusion matrix
    (rows: true class 0/1, columns: predicted class 0/1)."""
    labels = labels.astype(int)
    predicted = (probabilities > threshold).astype(int)
    tp = int(((predicted == 1) & (labels == 1)).sum())
    tn = int(((predicted == 0) & (labels == 0)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    return {
        "images": int(len(labels)),
        "loss": binary_cross_entropy(labels, probabilities),
        "accuracy": (tp + tn) / len(labels) if len(labels) else None,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "roc_auc": roc_auc(labels, probabilities),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }
