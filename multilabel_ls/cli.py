"""The ``mlls`` command line: ``run`` a grid, write its ``report``, list and describe ``datasets``.

Exit codes: 0 success; 1 some runs failed (they are logged in the store and retried by the
next ``mlls run``) or the store holds no finished run to report; 2 invalid usage,
configuration or data set (the message names the field), a store that cannot be used (not a
store, damaged, an unsupported schema, a failing disk: the message names the file, which is left
as it was), an ``--out`` that cannot be created or written, or a ``--compare`` pair the store
cannot compare; 130 interrupted by Ctrl-C or SIGTERM (finished runs are kept in the store, the
worker processes are stopped).

Examples
--------
``mlls run --out results/yeast`` runs the default grid (yeast; binary, binary_uniform,
mass_preserving, uniform, positive_split, unnormalized; ε ∈ {0, 0.05, 0.1, 0.2, 0.3};
5 seeds) into ``results/yeast/results.sqlite`` and writes ``results/yeast/report.md``.
Run it again and finished runs are skipped. Under ``torchrun --nproc_per_node K -m
multilabel_ls.cli run ...`` every run is trained data-parallel over K processes.
``mlls report results/yeast --compare prior:binary`` adds paired tests of ``prior`` against
``binary`` at equal ε on the shared seeds (repeat ``--compare`` for more pairs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

STORE_NAME = "results.sqlite"


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _pairs(text: str) -> list[list[float]]:
    out = []
    for part in _names(text):
        pos, sep, neg = part.partition(":")
        try:
            out.append([float(pos), float(neg)])
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected epsilon_pos:epsilon_neg pairs like 0.1:0.01, got {part!r}"
            ) from None
        if not sep:
            raise argparse.ArgumentTypeError(f"expected epsilon_pos:epsilon_neg, got {part!r}")
    return out


def _strategy_pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a.strip() or not b.strip():
        raise argparse.ArgumentTypeError(f"expected STRATEGY_A:STRATEGY_B, got {text!r}")
    return a.strip(), b.strip()


# flag dest -> (config section or None, config field)
_OVERRIDES = {
    "name": (None, "name"),
    "datasets": (None, "datasets"),
    "data_dir": (None, "data_dir"),
    "strategies": (None, "strategies"),
    "epsilons": (None, "epsilons"),
    "asymmetric": (None, "asymmetric_epsilons"),
    "noise": (None, "noise"),
    "seed_list": (None, "seeds"),
    "model": ("train", "model"),
    "hidden": ("train", "hidden"),
    "channels": ("train", "channels"),
    "dropout": ("train", "dropout"),
    "lr": ("train", "lr"),
    "weight_decay": ("train", "weight_decay"),
    "batch_size": ("train", "batch_size"),
    "max_epochs": ("train", "max_epochs"),
    "patience": ("train", "patience"),
    "val_fraction": ("train", "val_fraction"),
    "clean_validation": ("train", "clean_validation"),
    "threshold": ("eval", "threshold"),
    "n_bins": ("eval", "n_bins"),
}


_COMPARE = {
    "type": _strategy_pair, "action": "append", "metavar": "A:B",
    "help": "in the report, compare strategy A with B at the same ε on the shared seeds (paired "
    "t-test, wins; repeatable), e.g. --compare prior:binary",
}  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    from multilabel_ls.experiments.config import EvalConfig, TrainConfig

    p = argparse.ArgumentParser(prog="mlls", description="Multi-label label smoothing experiments.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{run,report,datasets}")

    r = sub.add_parser("run", help="train a grid (resumable) and write its report",
                       description="Train dataset × strategy × ε × noise × seed into a SQLite "
                       "store; finished runs are skipped. Flags override the config file.")  # fmt: skip
    r.add_argument("--config", type=Path, help="TOML or JSON config file")
    r.add_argument("--out", type=Path, default=Path("results"),
                   help="output directory (store, report, figures); default: results")  # fmt: skip
    r.add_argument("--store", type=Path, help=f"store file (default: OUT/{STORE_NAME})")
    g = r.add_argument_group("grid")
    g.add_argument("--name", help="experiment name (report title)")
    g.add_argument("--dataset", dest="datasets", action="append", metavar="NAME",
                   help="data set (repeatable): yeast, digits-multi, mulan:<dir>, a Mulan name "
                   "under --data-dir, ...; default yeast")  # fmt: skip
    g.add_argument("--data-dir", default=os.environ.get("MLLS_DATA_DIR"),
                   help="directory of Mulan data sets (default: $MLLS_DATA_DIR)")  # fmt: skip
    g.add_argument("--strategies", type=_names, help="comma-separated strategy names")
    g.add_argument("--epsilons", type=_floats, help="comma-separated ε values, e.g. 0,0.1,0.2")
    g.add_argument("--asymmetric", type=_pairs, metavar="POS:NEG,...",
                   help="(epsilon_pos, epsilon_neg) pairs for the asymmetric strategies")  # fmt: skip
    g.add_argument("--noise", action="append", metavar="SPEC",
                   help="label-noise spec (repeatable): none, missing:0.2, flip:0.05, ...")  # fmt: skip
    seeds = g.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, metavar="N", help="use seeds 0..N-1")
    seeds.add_argument("--seed-list", type=_ints, metavar="S,...", help="explicit seeds")
    t = r.add_argument_group("training and evaluation")
    tr, ev = TrainConfig(), EvalConfig()
    t.add_argument("--model", choices=("auto", "mlp", "cnn"),
                   help="auto (default): CNN for image data, MLP otherwise")  # fmt: skip
    t.add_argument("--hidden", type=_ints, metavar="W,...",
                   help=f"hidden widths (default {','.join(map(str, tr.hidden))})")  # fmt: skip
    t.add_argument("--channels", type=_ints, metavar="C,...",
                   help=f"CNN conv channels (default {','.join(map(str, tr.channels))})")  # fmt: skip
    for flag, typ, default, what in (
        ("--dropout", float, tr.dropout, "dropout after each hidden layer"),
        ("--lr", float, tr.lr, "Adam learning rate"),
        ("--weight-decay", float, tr.weight_decay, "Adam (L2) weight decay"),
        ("--batch-size", int, tr.batch_size, "minibatch size, 0 = full batch"),
        ("--max-epochs", int, tr.max_epochs, "epoch limit"),
        ("--patience", int, tr.patience, "early-stopping patience (epochs)"),
        ("--val-fraction", float, tr.val_fraction, "validation share of the training split"),
        ("--threshold", float, ev.threshold, "probability threshold of F1 / Hamming loss"),
        ("--n-bins", int, ev.n_bins, "calibration bins"),
    ):
        t.add_argument(flag, type=typ, metavar="X", help=f"{what} (default {default:g})")
    t.add_argument("--clean-validation", action="store_true", default=None,
                   help="corrupt only the fit rows, validate on clean labels")  # fmt: skip
    x = r.add_argument_group("execution")
    x.add_argument("--workers", type=int, default=None, help="worker processes (default 2)")
    x.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    x.add_argument("--no-report", action="store_true", help="do not write the report")
    x.add_argument("--compare", **_COMPARE)
    x.add_argument("--no-progress", action="store_true", help="no progress bar")
    x.add_argument("--dry-run", action="store_true", help="print the grid and exit")

    rep = sub.add_parser("report", help="write the Markdown report of a store")
    rep.add_argument(
        "store", type=Path, help=f"store file, or a run directory holding {STORE_NAME}"
    )
    rep.add_argument("--out", type=Path, help="output directory (default: the store's directory)")
    rep.add_argument("--metrics", type=_names, help="headline metrics (default: "
                     "map_macro,map_micro,ece_classwise)")  # fmt: skip
    rep.add_argument("--no-reliability", action="store_true", help="skip reliability diagrams")
    rep.add_argument("--compare", **_COMPARE)

    d = sub.add_parser("datasets", help="list or describe data sets")
    dsub = d.add_subparsers(dest="action", required=True, metavar="{list,describe}")
    for name, hlp in (("list", "known data sets with sizes, cardinality and empty rows"),
                      ("describe", "one data set in detail")):  # fmt: skip
        q = dsub.add_parser(name, help=hlp)
        if name == "describe":
            q.add_argument("name", help="data set name or source string")
            q.add_argument("--json", action="store_true", help="print JSON")
        q.add_argument("--data-dir", default=os.environ.get("MLLS_DATA_DIR"),
                       help="directory of Mulan data sets (default: $MLLS_DATA_DIR)")  # fmt: skip
    return p


def _err(msg: str) -> None:
    print(f"mlls: error: {msg}", file=sys.stderr)


def build_config(args: argparse.Namespace):
    """The :class:`ExperimentConfig` of ``mlls run``: the config file, then the flags on top."""
    from multilabel_ls.experiments.config import config_from_dict, load_config

    data: dict[str, Any] = load_config(args.config).to_dict() if args.config else {}
    for dest, (section, field) in _OVERRIDES.items():
        v = getattr(args, dest, None)
        if v is not None:
            (data.setdefault(section, {}) if section else data)[field] = v
    if args.seeds is not None:
        if args.seeds < 1:
            from multilabel_ls.experiments.config import ConfigError

            raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
        data["seeds"] = list(range(args.seeds))
    return config_from_dict(data)


def _compare_error(pairs) -> str | None:
    """The usage error of ``--compare`` pairs (unknown or repeated strategy), or None."""
    from multilabel_ls.strategies import STRATEGIES

    for a, b in pairs or ():
        for name in (a, b):
            if name not in STRATEGIES:
                return (
                    f"--compare {a}:{b}: unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
                )
        if a == b:
            return f"--compare {a}:{b}: a strategy cannot be compared with itself"
    return None


def _out_error(out: Path) -> str | None:
    """Why the output directory ``out`` cannot be used (it is created if missing), or None."""
    if out.exists() and not out.is_dir():
        return f"--out {str(out)!r} exists and is not a directory"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"--out {str(out)!r}: cannot create the directory: {e.strerror or e}"
    return None


def _grid_compare_error(config, store: Path, pairs) -> str | None:
    """A ``--compare`` strategy that is neither in the grid nor in the store, or None."""
    from multilabel_ls.experiments.report import _missing_strategies
    from multilabel_ls.experiments.store import ResultStore

    have = set(config.strategies)
    if any(s not in have for pair in pairs or () for s in pair) and store.is_file():
        with ResultStore(store, readonly=True) as st:
            have |= {r["strategy"] for r in st.runs()}
    for a, b in pairs or ():
        if missing := _missing_strategies((a, b), have):
            return (
                f"--compare {a}:{b}: {missing}: not in the grid's strategies "
                f"({', '.join(config.strategies)}) nor in {str(store)!r}"
            )
    return None


def _compare_gaps(store: Path, pairs) -> bool:
    """Report every ``--compare`` pair the store cannot compare; True if there was one."""
    from multilabel_ls.experiments.report import comparison_gaps

    gaps = comparison_gaps(store, pairs or ())
    for (a, b), why in gaps:
        _err(f"--compare {a}:{b}: {why} ({str(store)!r})")
    return bool(gaps)


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """Within: SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does.

    Once: a repeated SIGTERM is ignored while the first one is handled.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _cmd_run(args: argparse.Namespace) -> int:
    from multilabel_ls.experiments.config import ConfigError
    from multilabel_ls.experiments.distributed import init_from_env
    from multilabel_ls.experiments.store import StoreError

    try:
        config = build_config(args)
    except ConfigError as e:
        _err(str(e))
        return 2
    if (msg := _compare_error(args.compare)) is not None:
        _err(msg)
        return 2
    store = args.store or args.out / STORE_NAME
    grid = config.expand()
    if args.dry_run:
        print(f"{len(grid)} runs -> {store}")
        for spec in grid:
            print(f"  {spec.key}  {spec.label}")
        return 0
    try:
        msg = None if args.no_report else _out_error(args.out)
        if msg is None and not args.no_report:
            msg = _grid_compare_error(config, store, args.compare)
    except StoreError as e:
        msg = str(e)
    if msg is not None:
        _err(msg)
        return 2
    ctx = init_from_env()
    # Under torchrun the launcher owns SIGTERM (it stops every rank); elsewhere it is Ctrl-C.
    with contextlib.nullcontext() if ctx.enabled else _sigterm_as_ctrl_c():
        return _run_and_report(args, config, store, ctx)


def _run_and_report(args: argparse.Namespace, config, store: Path, ctx) -> int:
    from multilabel_ls.experiments.config import ConfigError
    from multilabel_ls.experiments.distributed import shutdown
    from multilabel_ls.experiments.runner import run_grid
    from multilabel_ls.experiments.store import StoreError

    workers = 2 if args.workers is None else args.workers
    try:
        summary = run_grid(config, store, workers=workers, threads=args.threads,
                           progress=not args.no_progress, ctx=ctx)  # fmt: skip
    except (ConfigError, StoreError) as e:
        _err(str(e))
        return 2
    except KeyboardInterrupt:
        _err(f"interrupted; finished runs are kept in {store} (run again to resume)")
        return 130
    finally:
        if not ctx.is_main:
            shutdown(ctx)
    if not ctx.is_main:
        return 0
    try:
        print(f"{summary.completed} runs trained, {summary.skipped} already in the store, "
              f"{len(summary.failed)} failed ({summary.seconds:.1f} s) -> {store}")  # fmt: skip
        for f in summary.failed:
            _err(f"run {f['label']} failed: {f['error']}")
        code = 0 if summary.ok else 1
        if not args.no_report:
            if args.compare and len(summary.failed) < summary.total:  # else: no run to report
                try:
                    if _compare_gaps(store, args.compare):
                        code = 2
                except StoreError as e:
                    _err(str(e))
                    return 2
            code = max(code, _write_report(store, args.out, None, True, not args.no_progress,
                                           args.compare))  # fmt: skip
        return code
    except KeyboardInterrupt:
        _err(f"interrupted while writing the report; the runs are kept in {store}")
        return 130
    finally:
        shutdown(ctx)


def _write_report(
    store: Path, out: Path, metrics, reliability: bool, progress: bool, compare=None
) -> int:
    from multilabel_ls.experiments.report import HEADLINE, write_report
    from multilabel_ls.experiments.store import StoreError

    try:
        path = write_report(store, out, headline=tuple(metrics or HEADLINE),
                            reliability=reliability, progress=progress,
                            compare_pairs=compare or ())  # fmt: skip
    except StoreError as e:
        _err(str(e))
        return 2
    except (FileNotFoundError, ValueError) as e:
        _err(str(e))
        return 1
    except OSError as e:  # the output directory: full, read-only, replaced by a file, ...
        where = e.filename if e.filename is not None else out
        _err(f"cannot write the report to {str(where)!r}: {e.strerror or e}")
        return 2
    print(f"report: {path}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from multilabel_ls.experiments.store import ResultStore, StoreError

    if (msg := _compare_error(args.compare)) is not None:
        _err(msg)
        return 2
    store = args.store / STORE_NAME if args.store.is_dir() else args.store
    if not store.is_file():
        _err(f"no result store at {str(store)!r}")
        return 2
    out = args.out or store.parent
    try:
        ResultStore(store, readonly=True).close()  # refuse a bad store before writing anything
        msg = _out_error(out)
        if msg is None and _compare_gaps(store, args.compare):
            return 2
    except StoreError as e:
        msg = str(e)
    if msg is not None:
        _err(msg)
        return 2
    return _write_report(store, out, args.metrics, not args.no_reliability, True, args.compare)


def _cmd_datasets(args: argparse.Namespace) -> int:
    from multilabel_ls.data import list_datasets, load_dataset

    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        _err(f"--data-dir {args.data_dir!r} is not a directory")
        return 2
    if args.action == "describe":
        try:
            ds = load_dataset(args.name, data_dir=args.data_dir)
        except Exception as e:  # every loader error becomes a message, not a traceback
            _err(str(e))
            return 2
        print(json.dumps(ds.describe(), indent=2) if args.json else ds.summary())
        return 0
    head = f"{'name':<14}{'train':>7}{'test':>7}{'features':>10}{'labels':>8}{'card.':>8}{'empty rows (train/test)':>26}"
    print(head)
    for name in list_datasets(args.data_dir):
        try:
            d = load_dataset(name, data_dir=args.data_dir).describe()
        except Exception as e:  # one unreadable data set must not hide the others
            print(f"{name:<14}  (cannot load: {e})")
            continue
        empty = f"{d['train']['n_empty_rows']}/{d['test']['n_empty_rows']}"
        print(f"{name:<14}{d['n_train']:>7}{d['n_test']:>7}{d['n_features']:>10}"
              f"{d['n_labels']:>8}{d['train']['cardinality']:>8.3f}{empty:>26}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mlls`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "report":
        return _cmd_report(args)
    return _cmd_datasets(args)


if __name__ == "__main__":  # ``python -m multilabel_ls.cli`` (what torchrun -m launches)
    sys.exit(main())
