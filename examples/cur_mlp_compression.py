"""Compress a small neural network's weight matrices by CUR with activation weights.

The idea of "CURing Large Models" (2025), at toy scale: each hidden layer's weight matrix
W (inputs x outputs) is replaced by C U R, with the rows (input units) and columns chosen
by DEIM on W scaled by the norms of the layer's input activations over the training set,
so that the units that carry signal are kept.  The factors are those of W itself.  The
network is a scikit-learn MLP trained here on the bundled digits data set; accuracy on the
held-out test set is compared with a truncated SVD of each matrix at the same parameter
count, and with CUR without the activation weights.

Run from the repository root: ``python examples/cur_mlp_compression.py`` (about 10 s).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import rankwise
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

HIDDEN = (256, 256)
RANKS = (8, 12, 16, 24, 32, 48)


def train() -> tuple[MLPClassifier, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=400, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    return clf, X_train, X_test, y_train, y_test


def layer_inputs(clf: MLPClassifier, X: np.ndarray) -> list[np.ndarray]:
    """The input of every layer (ReLU activations of the previous one) on X."""
    inputs = [X]
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        inputs.append(np.maximum(inputs[-1] @ W + b, 0.0))
    return inputs


def cur_params(m: int, n: int, k: int) -> int:
    return k * m + k * k + k * n


def compress(clf: MLPClassifier, X_train: np.ndarray, k: int, how: str) -> MLPClassifier:
    """A copy of clf whose weight matrices (all but the small output layer) are replaced by
    rank-k CUR approximations (``how`` = "cur" or "cur+act") or by truncated SVDs with the
    same number of parameters (``how`` = "svd")."""
    out = copy.deepcopy(clf)
    acts = layer_inputs(clf, X_train)
    for i, W in enumerate(clf.coefs_[:-1]):
        m, n = W.shape
        if how == "svd":
            r = max(1, cur_params(m, n, k) // (m + n))
            U, s, Vt = np.linalg.svd(W, full_matrices=False)
            out.coefs_[i] = (U[:, :r] * s[:r]) @ Vt[:r]
            continue
        weights = (np.linalg.norm(acts[i], axis=0) + 1e-12, None) if how == "cur+act" else None
        d = rankwise.cur(W, k, method="deim", core="pinv", weights=weights, random_state=0)
        out.coefs_[i] = d.to_dense()
    return out


def main() -> None:
    clf, X_train, X_test, _, y_test = train()
    total = sum(W.size for W in clf.coefs_)
    base = clf.score(X_test, y_test)
    print(f"MLP {X_train.shape[1]}-{'-'.join(map(str, HIDDEN))}-10 on digits: {total} weights,")
    print(f"test accuracy {base:.4f}; hidden-layer matrices compressed, output layer kept\n")
    print("   k  weights removed  acc CUR+act  acc CUR  acc SVD (same #params)")
    for k in RANKS:
        kept = sum(cur_params(*W.shape, k) for W in clf.coefs_[:-1]) + clf.coefs_[-1].size
        removed = 1 - kept / total
        accs = [compress(clf, X_train, k, how).score(X_test, y_test) for how in HOWS]
        print(f"{k:4d}  {removed:14.1%}  {accs[0]:11.4f}  {accs[1]:7.4f}  {accs[2]:7.4f}")


HOWS = ("cur+act", "cur", "svd")

if __name__ == "__main__":
    main()
