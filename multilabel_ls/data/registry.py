"""One entry point for every data source: :func:`load_dataset` and :func:`list_datasets`.

Accepted forms of ``name_or_path`` (tried in this order):

==============================  ==========================================================
``"yeast"``                     offline Mulan yeast, official split (:func:`load_yeast`)
``"digits-multi"``              composed handwritten digits (:func:`load_digits_multi`);
                                keyword options are passed on (``seed=``, ``n_train=``...)
``"mulan:<path>"``              :func:`load_mulan` on a directory, ``.xml`` or train ``.arff``
``"libsvm:<train>,<test>"``     :func:`load_libsvm` (or ``"libsvm:<train>"`` + ``test_path=``)
``"openml:<name>"``             :func:`load_openml` by name; ``"openml:<int>"`` by data id
``"<name>"`` + ``data_dir=``    the Mulan directory ``data_dir/<name>`` (e.g. ``"emotions"``)
an existing path                :func:`load_mulan` (directory, ``.xml`` or train ``.arff``)
==============================  ==========================================================

Built-in names win over ``data_dir``: ``load_dataset("yeast", data_dir=d)`` is the offline copy
(identical to Mulan's files); use ``"mulan:<d>/yeast"`` to read the files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .dataset import MultiLabelDataset
from .digits_multi import load_digits_multi
from .libsvm import load_libsvm
from .mulan import load_mulan
from .openml import load_openml
from .yeast import load_yeast

__all__ = ["BUILTIN_DATASETS", "list_datasets", "load_dataset"]

PathLike = str | os.PathLike

BUILTIN_DATASETS: dict[str, Callable[..., MultiLabelDataset]] = {
    "digits-multi": load_digits_multi,
    "yeast": load_yeast,
}
_PREFIXES = ("mulan", "libsvm", "openml")


def _mulan_dirs(data_dir: Path) -> list[str]:
    """Sub-directories ``d`` of ``data_dir`` holding a ``d/<d>.xml`` (Mulan layout)."""
    if not data_dir.is_dir():
        return []
    return sorted(p.name for p in data_dir.iterdir() if (p / f"{p.name}.xml").is_file())


def list_datasets(data_dir: PathLike | None = None) -> list[str]:
    """Names :func:`load_dataset` accepts without a prefix.

    Parameters
    ----------
    data_dir : str or path-like, optional
        A directory of Mulan data sets (one sub-directory ``<name>/`` with ``<name>.xml`` each,
        like the shared datasets directory); their names are added.

    Returns
    -------
    list of str
        The built-in names (``"digits-multi"``, ``"yeast"``), then the Mulan directory names
        of ``data_dir`` not already listed, each group sorted.
    """
    names = sorted(BUILTIN_DATASETS)
    if data_dir is not None:
        names += [n for n in _mulan_dirs(Path(data_dir)) if n not in BUILTIN_DATASETS]
    return names


def _unknown(name: str, data_dir: PathLike | None) -> ValueError:
    known = list_datasets(data_dir)
    hint = "" if data_dir is not None else " (pass data_dir= to add Mulan directories)"
    return ValueError(
        f"unknown dataset {name!r}; known names: {known}{hint}. Other accepted forms: "
        "'mulan:<path>', 'libsvm:<train>,<test>', 'openml:<name or id>', or a path to a Mulan "
        "directory, .xml or -train.arff file"
    )


def load_dataset(
    name_or_path: str | os.PathLike,
    *,
    data_dir: PathLike | None = None,
    **kwargs: Any,
) -> MultiLabelDataset:
    """Load a data set by built-in name, prefixed source string or path (see module docstring).

    Parameters
    ----------
    name_or_path : str or path-like
        What to load.
    data_dir : str or path-like, optional
        Directory of Mulan data sets, consulted for plain names that are not built in.
    **kwargs
        Passed to the underlying loader (e.g. ``seed=1`` for ``"digits-multi"``,
        ``data_home=`` for ``"openml:..."``, ``test_path=`` for ``"libsvm:<train>"``).

    Returns
    -------
    MultiLabelDataset

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known names and accepted forms) or a
        malformed prefixed string; loader errors propagate unchanged.
    TypeError
        If ``name_or_path`` is not a str or path-like, or a loader rejects ``kwargs``.
    """
    if isinstance(name_or_path, os.PathLike):
        return load_mulan(name_or_path, **kwargs)
    if not isinstance(name_or_path, str):
        raise TypeError(f"name_or_path must be a str or path; got {name_or_path!r}")
    spec = name_or_path.strip()
    prefix, sep, rest = spec.partition(":")
    if sep and prefix.lower() in _PREFIXES:
        prefix = prefix.lower()
        if not rest:
            raise ValueError(f"{spec!r}: nothing after '{prefix}:'")
        if prefix == "mulan":
            return load_mulan(rest, **kwargs)
        if prefix == "libsvm":
            parts = [p for p in rest.split(",") if p]
            if len(parts) == 2:
                return load_libsvm(parts[0], parts[1], **kwargs)
            if len(parts) == 1 and "test_path" in kwargs:
                return load_libsvm(parts[0], kwargs.pop("test_path"), **kwargs)
            raise ValueError(f"{spec!r}: expected 'libsvm:<train>,<test>' (or pass test_path=)")
        if rest.isdigit():
            return load_openml(data_id=int(rest), **kwargs)
        return load_openml(rest, **kwargs)
    if spec in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[spec](**kwargs)
    if data_dir is not None and spec in _mulan_dirs(Path(data_dir)):
        return load_mulan(Path(data_dir) / spec, name=spec, **kwargs)
    if Path(spec).exists():
        return load_mulan(spec, **kwargs)
    raise _unknown(spec, data_dir)
