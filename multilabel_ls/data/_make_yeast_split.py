"""Recover Mulan's official yeast train/test split as row indices into river's yeast CSV.

Run once (the output is committed as ``multilabel_ls/data/yeast_split.json``)::

    python -m multilabel_ls.data._make_yeast_split /path/to/shared/datasets/yeast

Method
------
1. Parse river's ``yeast.csv.gz`` (2417 x 117) and Mulan's ``yeast-train.arff`` /
   ``yeast-test.arff`` to float64 (labels ``{0,1}`` become 0.0/1.0), in ARFF column order, which
   is also the CSV header order (checked).
2. Index the CSV rows by their exact value tuple. For each row of the train file, then of the
   test file, in file order, take the *smallest unused* CSV index with identical values.
   Identical rows are thereby assigned deterministically (first occurrence in the CSV to the
   first occurrence in train, then test), and the multiset of rows of each split equals the
   official file's. A row with no unused match is an error.
3. Check that every CSV row is used exactly once and that the counts are 1500/917.

Findings on the data snapshot used (Mulan commit 43f6389, river 0.26.1): no two CSV rows are
identical, not even in their 103 features alone, so the matching is a bijection and the
tie-break rule is never exercised. The full file turns out to be the test rows followed by the
train rows, each in official order: test = CSV rows 0..916, train = rows 917..2416. The index
lists are kept explicit anyway (robust to any order). The script prints these facts each time
it runs.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from importlib import metadata
from pathlib import Path

import arff
import numpy as np

from .yeast import read_river_yeast_csv, values_sha256

OUT = Path(__file__).with_name("yeast_split.json")


def _arff_float64(path: Path) -> tuple[np.ndarray, list[str]]:
    with open(path, encoding="utf-8") as f:
        obj = arff.load(f, encode_nominal=True)
    for name, kind in obj["attributes"]:
        # encode_nominal gives category indices; for {0,1} they equal the values.
        if isinstance(kind, list) and kind != ["0", "1"]:
            raise ValueError(f"{path}: nominal attribute {name} is {kind}, expected ['0', '1']")
    return np.array(obj["data"], dtype=np.float64), [a[0] for a in obj["attributes"]]


def match_split(
    full: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[list[int], list[int], dict]:
    """Indices of ``train`` and ``test`` rows in ``full`` (see the module docstring, step 2)."""
    pool: dict[tuple, collections.deque] = collections.defaultdict(collections.deque)
    for i, row in enumerate(map(tuple, full)):
        pool[row].append(i)  # ascending, so popleft() gives the smallest unused index
    dup_rows = {k: len(v) for k, v in pool.items() if len(v) > 1}
    out: list[list[int]] = [[], []]
    for which, part in enumerate((train, test)):
        for r, row in enumerate(map(tuple, part)):
            if not pool.get(row):
                name = ("train", "test")[which]
                raise ValueError(f"{name} row {r} has no unused identical row in the CSV")
            out[which].append(pool[row].popleft())
    leftover = sum(len(v) for v in pool.values())
    if leftover:
        raise ValueError(f"{leftover} CSV rows matched neither split")
    feat_counts = collections.Counter(map(tuple, full[:, :103]))
    facts = {
        "identical_rows": int(sum(c - 1 for c in dup_rows.values())),
        "rows_with_identical_features": int(sum(c - 1 for c in feat_counts.values() if c > 1)),
        "train_indices_increasing": bool(np.all(np.diff(out[0]) > 0)),
        "test_indices_increasing": bool(np.all(np.diff(out[1]) > 0)),
    }
    return out[0], out[1], facts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("yeast_dir", type=Path, help="directory with yeast-train.arff, yeast-test.arff")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    full, columns = read_river_yeast_csv()
    train, cols_tr = _arff_float64(args.yeast_dir / "yeast-train.arff")
    test, cols_te = _arff_float64(args.yeast_dir / "yeast-test.arff")
    if not (columns == cols_tr == cols_te):
        raise ValueError("CSV header and ARFF attribute order differ")
    tr, te, facts = match_split(full, train, test)
    if (len(tr), len(te)) != (1500, 917):
        raise ValueError(f"expected 1500/917 rows, got {len(tr)}/{len(te)}")
    record = {
        "description": (
            "Official Mulan yeast train/test split as 0-based row indices into "
            "river/datasets/yeast.csv.gz (header excluded), each list in the order of the "
            "official yeast-train.arff / yeast-test.arff file. Made by "
            "python -m multilabel_ls.data._make_yeast_split."
        ),
        "mulan_snapshot": "tsoumakas/mulan@43f6389095ad71984264db4387a8074b22bc7d4a",
        "river_version": metadata.version("river"),
        "n_rows": int(full.shape[0]),
        "values_sha256": values_sha256(full),
        "facts": facts,
        "train": tr,
        "test": te,
    }
    # Pretty header, then one index list per line: small and diffable.
    head = json.dumps({k: v for k, v in record.items() if k not in ("train", "test")}, indent=1)
    text = f'{head[:-2]},\n "train": {json.dumps(tr)},\n "test": {json.dumps(te)}\n}}\n'
    json.loads(text)  # well-formed
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: train {len(tr)}, test {len(te)}; {facts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
