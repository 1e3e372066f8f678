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


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """A model's outputs as (images, classes) probabilities: one sigmoid unit p becomes [1 - p, p]."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        p = outputs.reshape(-1)
        return np.stack([1 - p, p], axis=1)
    return outputs


def predicted_classes(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The class each row predicts: for two classes, class 1 above ``threshold`` (the book's 0.5),
    else the most probable class."""
    if probabilities.shape[1] == 2:
        return (probabilities[:, 1] > threshold).astype(int)
    return np.argmax(probabilities, axis=1)


# how many of a run's test images the errors sheet shows (results/plots/{experiment}/seed{N}_errors.png)
ERRORS_SHOWN = 16


def most_confident_errors(
    labels: np.ndarray, probabilities: np.ndarray, count: int = ERRORS_SHOWN
) -> np.ndarray:
    """Indices of wrong predictions, most confident first; ``probabilities`` are (images, classes).
    The errors sheet draws these, and its heatmaps are computed for the same images."""
    predicted = predicted_classes(probabilities)
    wrong = np.flatnonzero(predicted != labels.astype(int))
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="mergesort")][:count]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows: true class, columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(int), predicted.astype(int)), 1)
    return matrix


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, classes) -> dict:
    """Test metrics of (images, classes) ``probabilities`` against class-index ``labels``.

    Two classes: ``binary_metrics`` as for the book's experiments (binary cross-entropy, accuracy,
    precision, recall and ROC AUC of the second class), under the same names. Any number: balanced accuracy (mean recall over classes),
    per-class precision / recall / F1 / support, their macro averages, one-vs-rest ROC AUC
    (``roc_auc``: their mean, for k > 2), the confusion matrix in counts and normalised by true
    class. For k > 2, ``loss`` is the categorical cross-entropy and ``precision``/``recall`` are
    None (no positive class: see the macro averages)."""
    labels = labels.astype(int)
    classes = list(classes)
    k = len(classes)
    if k == 2:
        result = binary_metrics(labels, probabilities[:, 1])
    else:
        p = np.clip(probabilities[np.arange(len(labels)), labels], EPSILON, 1.0)
        result = {
            "images": int(len(labels)),
            "loss": float(-np.mean(np.log(p))) if len(labels) else None,
            "precision": None,
            "recall": None,
        }
    predicted = predicted_classes(probabilities)
    matrix = confusion_matrix(labels, predicted, k)
    per_class, aucs = {}, []
    for index, name in enumerate(classes):
        tp = int(matrix[index, index])
        precision = _ratio(tp, matrix[:, index].sum())
        recall = _ratio(tp, matrix[index].sum())
        auc = roc_auc(labels == index, probabilities[:, index])
        if auc is not None:
            aucs.append(auc)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(matrix[index].sum()),
            "roc_auc": auc,
        }
    supported = [scores for scores in per_class.values() if scores["support"]]
    result["accuracy"] = _ratio(np.trace(matrix), matrix.sum()) if len(labels) else None
    result["balanced_accuracy"] = float(np.mean([s["recall"] for s in supported])) if supported else None
    for name in ("precision", "recall", "f1"):
        result[f"macro_{name}"] = float(np.mean([s[name] for s in per_class.values()]))
    if k > 2:
        result["roc_auc"] = float(np.mean(aucs)) if aucs else None
    result["per_class"] = per_class
    result["confusion_matrix"] = matrix.tolist()
    rows = matrix.sum(axis=1, keepdims=True)
    result["confusion_matrix_normalized"] = np.divide(
        matrix, rows, out=np.zeros(matrix.shape), where=rows > 0
    ).tolist()
    return result
