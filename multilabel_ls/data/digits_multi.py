"""``digits-multi``: a real-image multi-label set composed from scikit-learn's handwritten digits.

Composition (everything is a function of ``seed``)
-------------------------------------------------
1. **Source images.** ``sklearn.datasets.load_digits()``: 1797 real 8x8 handwritten digits
   (UCI optdigits test set), integer intensities 0..16, scaled to [0, 1] by dividing by 16.
2. **Disjoint source split.** Within each digit class the images are shuffled and a fraction
   ``source_test_fraction`` of them (rounded to the nearest integer) goes to the *test pool*,
   the rest to the *train pool* (the default 0.3 gives 539 test-pool and 1258 train-pool
   images). Train composites use only train-pool images and test composites only test-pool
   images, so no handwritten digit is seen in both splits.
3. **Canvas.** Each composite is a 16x16 image: a 2x2 grid of 8x8 cells (rows 0-7/8-15,
   columns 0-7/8-15). Its number of digits ``k`` is uniform on ``{min_digits, ..., max_digits}``
   (default 2..4); ``k`` of the 4 cells are chosen uniformly without replacement and each
   receives a different source image drawn uniformly without replacement from the pool; the
   other cells stay 0. There is no overlap, scaling or jitter.
4. **Labels.** ``N = 10`` labels ``"0".."9"``; label ``c`` is 1 iff some placed image shows
   digit ``c``. Repeated classes are allowed, so a composite has 1..k positive labels and
   never none.

Random streams: ``numpy.random.SeedSequence(seed).spawn(3)`` gives independent generators for
the source split, the train composites and the test composites, so changing ``n_train`` does
not change the test set (and vice versa).
"""

from __future__ import annotations

import numbers

import numpy as np

from .dataset import MultiLabelDataset

__all__ = ["load_digits_multi"]

CELL = 8  # load_digits images are 8x8
GRID = 2  # 2x2 cells -> 16x16 canvas, room for up to 4 digits
N_CLASSES = 10


def _check_int(value: object, argname: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argname} must be an int; got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{argname} must be {rng}; got {value}")
    return int(value)


def _compose(
    images: np.ndarray,
    classes: np.ndarray,
    n: int,
    min_digits: int,
    max_digits: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    side = CELL * GRID
    X = np.zeros((n, 1, side, side), dtype=np.float32)
    Y = np.zeros((n, N_CLASSES), dtype=np.uint8)
    ks = rng.integers(min_digits, max_digits + 1, size=n)
    for i, k in enumerate(ks):
        cells = rng.choice(GRID * GRID, size=k, replace=False)
        picks = rng.choice(len(images), size=k, replace=False)
        for cell, src in zip(cells, picks, strict=True):
            r, c = divmod(int(cell), GRID)
            X[i, 0, r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = images[src]
            Y[i, classes[src]] = 1
    return X, Y


def load_digits_multi(
    *,
    n_train: int = 2000,
    n_test: int = 1000,
    seed: int = 0,
    min_digits: int = 2,
    max_digits: int = 4,
    source_test_fraction: float = 0.3,
) -> MultiLabelDataset:
    """Build ``digits-multi`` (see the module docstring for the exact composition).

    Parameters
    ----------
    n_train, n_test : int, default 2000, 1000
        Number of composite images per split (>= 1).
    seed : int, default 0
        Non-negative seed; the same arguments always give the same arrays.
    min_digits, max_digits : int, default 2, 4
        Range of the number of digits per image, ``1 <= min_digits <= max_digits <= 4``.
    source_test_fraction : float, default 0.3
        Fraction of each digit class's source images reserved for test composites, in
        (0, 1); at least ``max_digits`` images must land in each pool.

    Returns
    -------
    MultiLabelDataset
        ``name="digits-multi"``; ``X_*`` float32 of shape (n, 256) in [0, 1] with
        ``image_shape=(1, 16, 16)`` (``ds.as_images(ds.X_train)`` gives (n, 1, 16, 16) for a
        CNN); ``Y_*`` uint8 of shape (n, 10), label names ``"0".."9"``. ``metadata`` records
        the arguments and the source-pool sizes.

    Raises
    ------
    TypeError
        If an integer argument is not an int.
    ValueError
        If an argument is out of range.
    """
    from sklearn.datasets import load_digits

    n_train = _check_int(n_train, "n_train", 1)
    n_test = _check_int(n_test, "n_test", 1)
    seed = _check_int(seed, "seed", 0)
    min_digits = _check_int(min_digits, "min_digits", 1, GRID * GRID)
    max_digits = _check_int(max_digits, "max_digits", min_digits, GRID * GRID)
    if not isinstance(source_test_fraction, numbers.Real) or not (
        0.0 < float(source_test_fraction) < 1.0
    ):
        raise ValueError(f"source_test_fraction must be in (0, 1); got {source_test_fraction!r}")

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)  # intensities 0..16 -> [0, 1]
    classes = digits.target.astype(np.intp)

    split_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    train_idx, test_idx = [], []
    for c in range(N_CLASSES):
        idx = split_rng.permutation(np.flatnonzero(classes == c))
        n_te = round(len(idx) * float(source_test_fraction))
        test_idx.append(idx[:n_te])
        train_idx.append(idx[n_te:])
    pools = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))
    for nm, pool in zip(("train", "test"), pools, strict=True):
        if len(pool) < max_digits:
            raise ValueError(
                f"source_test_fraction={source_test_fraction} leaves {len(pool)} source images "
                f"for the {nm} pool; need at least max_digits={max_digits}"
            )

    Xtr, Ytr = _compose(
        images[pools[0]], classes[pools[0]], n_train, min_digits, max_digits, train_rng
    )
    Xte, Yte = _compose(
        images[pools[1]], classes[pools[1]], n_test, min_digits, max_digits, test_rng
    )
    side = CELL * GRID
    return MultiLabelDataset(
        name="digits-multi",
        X_train=Xtr.reshape(n_train, -1),
        Y_train=Ytr,
        X_test=Xte.reshape(n_test, -1),
        Y_test=Yte,
        feature_names=[f"px{r}_{c}" for r in range(side) for c in range(side)],
        label_names=[str(c) for c in range(N_CLASSES)],
        source=(
            f"composed from sklearn load_digits (1797 real 8x8 digits): {min_digits}-{max_digits}"
            f" digits on a 2x2 grid of a 16x16 canvas, seed {seed}; train/test from disjoint "
            f"source images ({len(pools[0])}/{len(pools[1])})"
        ),
        image_shape=(1, side, side),
        metadata={
            "format": "digits-multi",
            "split": "synthetic (disjoint source images)",
            "seed": seed,
            "min_digits": min_digits,
            "max_digits": max_digits,
            "source_test_fraction": float(source_test_fraction),
            "n_source_train": len(pools[0]),
            "n_source_test": len(pools[1]),
        },
    )
