"""Multi-label data sets from OpenML, cached locally (needs the internet on first use).

Uses scikit-learn's ``fetch_openml`` (``parser="liac-arff"``, no pandas needed) and its on-disk
cache in ``data_home``, in three steps:

1. **Cache only.** ``fetch_openml`` runs with its URL opener replaced by one that refuses to
   open anything; if every file it needs is cached, the data set loads with no network at all.
2. **Probe.** Otherwise one HTTP request (the first one ``fetch_openml`` would make) is sent with
   a ``timeout``. If it cannot connect or times out, :class:`OpenMLUnavailableError` is raised
   at once -- offline, the call fails in about ``timeout`` seconds, never hangs, never retries.
3. **Fetch.** OpenML answered, so ``fetch_openml`` downloads (and caches) the data set, every
   socket operation bounded by ``timeout``.

Step 1 swaps the module attribute ``sklearn.datasets._openml.urlopen`` for the duration of the
call (not thread-safe with concurrent OpenML fetches in the same process); if a future
scikit-learn lacks it, step 1 is skipped and a cached data set then needs OpenML to be reachable.

OpenML data sets carry no train/test split, so a seeded random split is made (recorded in
``metadata["split"]``); for the official Mulan splits use :func:`~multilabel_ls.data.load_mulan`.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import socket
import warnings
from collections.abc import Iterator, Sequence
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import numpy as np

from .dataset import MultiLabelDataset

__all__ = ["OpenMLUnavailableError", "load_openml"]

PathLike = str | os.PathLike

_TRUE = {"1", "true", "yes", "1.0"}
_FALSE = {"0", "false", "no", "0.0"}


class OpenMLUnavailableError(ConnectionError):
    """OpenML could not be reached and the data set is not in the local cache."""


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Bound every socket connect/read started meanwhile (``fetch_openml`` has no timeout).

    This sets the process-wide default socket timeout for the duration of the call; sockets
    other threads create meanwhile get it too.
    """
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _binary_targets(y: np.ndarray, what: str) -> np.ndarray:
    """OpenML label columns (nominal strings or numbers) to a uint8 0/1 matrix."""
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.dtype.kind in "OUS":
        s = np.char.lower(np.char.strip(y.astype(str)))
        pos, neg = np.isin(s, list(_TRUE)), np.isin(s, list(_FALSE))
        if not (pos | neg).all():
            bad = sorted(set(s[~(pos | neg)].tolist()))[:5]
            raise ValueError(f"{what}: label columns must be binary; found values {bad}")
        return pos.astype(np.uint8)
    yf = y.astype(np.float64)
    if not np.isin(yf, (0.0, 1.0)).all():
        raise ValueError(f"{what}: label columns hold values other than 0 and 1")
    return yf.astype(np.uint8)


class _NeedsNetwork(Exception):
    """Raised by the refusing URL opener of the cache-only attempt."""


def _refuse(*args, **kwargs):
    raise _NeedsNetwork


@contextlib.contextmanager
def _cache_only() -> Iterator[None]:
    """Make ``fetch_openml`` fail with :class:`_NeedsNetwork` instead of opening a URL."""
    import sklearn.datasets._openml as sk_openml

    original = getattr(sk_openml, "urlopen", None)
    if original is None:  # pragma: no cover - scikit-learn changed its internals
        raise _NeedsNetwork
    sk_openml.urlopen = _refuse
    try:
        yield
    finally:
        sk_openml.urlopen = original


def _first_url(name: str | None, data_id: int | None) -> str:
    """The first API URL ``fetch_openml`` requests (used as the reachability probe)."""
    import sklearn.datasets._openml as sk_openml

    if data_id is not None:
        template = getattr(sk_openml, "_DATA_INFO", "https://www.openml.org/api/v1/json/data/{}")
        return template.format(data_id)
    template = getattr(
        sk_openml,
        "_SEARCH_NAME",
        "https://www.openml.org/api/v1/json/data/list/data_name/{}/limit/2",
    )
    return template.format(name)


def _unavailable(what: str, reason: object, home: str) -> OpenMLUnavailableError:
    return OpenMLUnavailableError(
        f"cannot reach OpenML to fetch {what} ({reason}) and it is not cached under {home}. "
        "Fetch it once with internet access, or use an offline data set: 'yeast', "
        "'digits-multi', or a Mulan directory (load_mulan)."
    )


def _probe(url: str, timeout: float, what: str, home: str) -> None:
    """One bounded request; any HTTP answer (even an error status) means OpenML is reachable."""
    try:
        with urlopen(Request(url, method="GET"), timeout=timeout) as response:
            response.read(1)
    except HTTPError:
        return
    except (URLError, TimeoutError, OSError) as e:
        raise _unavailable(what, getattr(e, "reason", e), home) from e


def load_openml(
    name: str | None = None,
    *,
    data_id: int | None = None,
    version: int | str = "active",
    label_columns: Sequence[str] | None = None,
    data_home: PathLike | None = None,
    test_fraction: float = 0.3,
    seed: int = 0,
    timeout: float = 10.0,
) -> MultiLabelDataset:
    """Fetch a multi-label data set from OpenML (or its local cache) and split it.

    Parameters
    ----------
    name : str, optional
        OpenML data set name (e.g. ``"yeast"``); give ``name`` or ``data_id``.
    data_id : int, optional
        OpenML data id (e.g. 40597 for the multi-label yeast).
    version : int or "active", default "active"
        Version, when fetching by name.
    label_columns : sequence of str, optional
        Label attribute names. By default the data set's target attributes
        (``target_column="default-target"``), which OpenML's multi-label sets declare.
    data_home : str or path-like, optional
        Cache directory (scikit-learn's default ``~/scikit_learn_data`` if omitted).
    test_fraction : float, default 0.3
        Fraction of rows put in the test split, in (0, 1); at least one row goes to each side.
    seed : int, default 0
        Seed of the random split (``numpy.random.default_rng(seed).permutation``).
    timeout : float, default 10.0
        Seconds allowed for the reachability probe and for each socket connect/read of the
        download. Host name resolution is bounded by the system resolver, not by this value.

    Returns
    -------
    MultiLabelDataset
        Dense ``float32`` features (nominal features as category codes, as scikit-learn
        returns them) and ``uint8`` labels; the rows of each split keep their original
        relative order.

    Raises
    ------
    OpenMLUnavailableError
        (a ``ConnectionError``) if the data set is not cached and OpenML cannot be reached or
        times out.
    ValueError
        For bad arguments, an unknown data set, a data set without label columns, non-binary
        labels or missing feature values.
    TypeError
        If ``seed`` or ``data_id`` is not an int.
    """
    from sklearn.datasets import fetch_openml, get_data_home

    if (name is None) == (data_id is None):
        raise ValueError(f"give exactly one of name and data_id; got {name=!r}, {data_id=!r}")
    if data_id is not None and (
        isinstance(data_id, bool) or not isinstance(data_id, numbers.Integral)
    ):
        raise TypeError(f"data_id must be an int; got {data_id!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative int; got {seed!r}")
    if not isinstance(test_fraction, numbers.Real) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    if not isinstance(timeout, numbers.Real) or not float(timeout) > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    what = f"OpenML data set {name!r}" if name is not None else f"OpenML data id {data_id}"
    home = str(get_data_home(data_home))
    target = list(label_columns) if label_columns is not None else "default-target"
    kwargs = {
        "version": version,
        "data_id": data_id,
        "data_home": home,
        "target_column": target,
        "cache": True,
        "as_frame": False,
        "parser": "liac-arff",
    }
    try:
        with _cache_only(), warnings.catch_warnings():
            # A refused download makes scikit-learn warn about an "invalid cache"; expected.
            warnings.simplefilter("ignore")
            bunch = fetch_openml(name, **kwargs)
    except _NeedsNetwork:
        _probe(_first_url(name, data_id), float(timeout), what, home)
        try:
            with _socket_timeout(float(timeout)):
                bunch = fetch_openml(name, **kwargs)
        except HTTPError as e:
            raise ValueError(f"{what}: OpenML answered HTTP {e.code} ({e.reason})") from e
        except (URLError, TimeoutError, ConnectionError) as e:
            raise _unavailable(what, getattr(e, "reason", e), home) from e

    if bunch.target is None:
        raise ValueError(f"{what} has no target (label) columns; pass label_columns=[...]")
    Y = _binary_targets(bunch.target, what)
    target_names = list(getattr(bunch, "target_names", None) or [])
    if len(target_names) != Y.shape[1]:
        target_names = list(label_columns or [f"label{j}" for j in range(Y.shape[1])])
    X = bunch.data
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = X.astype(np.float64)
    if np.isnan(X).any():
        raise ValueError(f"{what} has missing feature values; impute them first")
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"{what} has {n} rows; cannot split")
    n_test = min(max(round(n * float(test_fraction)), 1), n - 1)
    perm = np.random.default_rng(int(seed)).permutation(n)
    te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    details = dict(getattr(bunch, "details", None) or {})
    ds_name = str(details.get("name") or name or f"openml-{data_id}")
    return MultiLabelDataset(
        name=ds_name,
        X_train=X[tr],
        Y_train=Y[tr],
        X_test=X[te],
        Y_test=Y[te],
        feature_names=list(bunch.feature_names),
        label_names=target_names,
        source=(
            f"OpenML data id {details.get('id', data_id)} ({ds_name}, version "
            f"{details.get('version', version)}), cached under {home}; random split "
            f"test_fraction={test_fraction}, seed={seed}"
        ),
        metadata={
            "format": "openml",
            "split": f"random (test_fraction={float(test_fraction)}, seed={int(seed)})",
            "openml_id": details.get("id", data_id),
        },
    )
