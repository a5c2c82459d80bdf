"""The Markdown report of a store: tables, paired tests, metric-vs-ε plots, reliability diagrams.

:func:`write_report` reads only the store (metrics, records, test logits and labels), so a
report can be rebuilt at any time, also while a grid is still running, without the data.
Output in ``out_dir``: ``report.md``, ``summary.csv`` (every cell × metric: mean, sd, n,
difference to ε = 0, p-value, wins), ``figures/*.png`` and, when strategy pairs are given to
compare, ``comparisons.csv`` (every pair × data set × ε × metric: means, difference, p-value,
wins).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from multilabel_ls import metrics as M
from multilabel_ls.plots import plot_metric_vs_epsilon, plot_reliability_grid
from multilabel_ls.strategies import STRATEGIES

from .evaluate import METRICS, RARE_METRICS, calibration_input
from .store import ResultStore
from .summary import Cell, baseline_of, cells_from_runs, compare, strategy_pairs

#: Metrics of the main tables and plots.
HEADLINE = ("map_macro", "map_micro", "ece_classwise")
NAMES = {
    "map_macro": "macro mAP",
    "map_micro": "micro mAP",
    "ece_classwise": "classwise ECE",
    "ece_pooled": "pooled ECE",
    "map_macro_rare": "rare macro mAP",
    "ece_classwise_rare": "rare ECE",
    "brier_rare": "rare Brier",
    "citl_rare": "rare CITL",
    "citl_abs_rare": "rare |CITL|",
}
CALIBRATION = ("ece_classwise", "ece_pooled", "brier", "nll", "hamming_loss", "f1_micro",
               "f1_macro", "f1_samples", "ece_classwise_rare", "brier_rare", "citl_rare",
               "citl_abs_rare")  # fmt: skip
#: Metrics of the paired comparisons between strategies (``write_report(compare_pairs=...)``).
COMPARE_METRICS = ("map_macro", "ece_classwise", *RARE_METRICS)
PROXY_NOTE = (
    "† softmax strategies: computed on the proxy probability clip(c̄·softmax(x), 0, 1), "
    "c̄ = training label cardinality (a softmax models no per-label presence probability)."
)


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("_")[:120]


def _pm(c: Cell, m: str, digits: int = 4) -> str:
    mean, sd = c.mean(m), c.sd(m)
    return f"{mean:.{digits}f}" + ("" if math.isnan(sd) else f" ± {sd:.{digits}f}")


def _delta(c: Cell, base: Cell | None, m: str) -> str:
    if base is None:
        return "no ε=0 cell"
    if c is base:
        return "—"
    cmp = compare(c, base, m)
    p = "n/a" if math.isnan(cmp.p) else f"{cmp.p:.3f}"
    return f"{cmp.diff:+.4f} (p={p}, {cmp.wins}/{cmp.n})"


def _dataset_name(d: str) -> str:
    return Path(d.split(":", 1)[-1]).name if ":" in d else d


def _results_table(
    cells: list[Cell], all_cells: list[Cell], headline: tuple[str, ...]
) -> list[str]:
    head = ["strategy", "family", "ε", "seeds"]
    for m in headline:
        head += [NAMES.get(m, m), f"Δ {NAMES.get(m, m)} vs ε=0 (p, wins)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        base = baseline_of(c, all_cells)
        row = [c.strategy, c.family, c.eps_label, str(len(c.seeds))]
        for m in headline:
            dag = "†" if c.family == "softmax" and m in CALIBRATION else ""
            row += [_pm(c, m) + dag, _delta(c, base, m)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _all_metrics_table(cells: list[Cell]) -> list[str]:
    head = ["strategy", "ε", *METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cells:
        vals = [_pm(c, m, 3) + ("†" if c.family == "softmax" and m in CALIBRATION else "")
                for m in METRICS]  # fmt: skip
        lines.append("| " + " | ".join([c.strategy, c.eps_label, *vals]) + " |")
    return lines


def _plots(cells, group, headline, fig_dir, slug) -> list[str]:
    out = []
    for m in headline:
        series, fams = {}, {}
        for c in cells:
            if c.epsilon_pos is not None:
                continue  # asymmetric strategies have no single ε axis
            e, mu, sd = series.setdefault(c.strategy, ([], [], []))
            e.append(c.epsilon)
            mu.append(c.mean(m))
            sd.append(c.sd(m))
            fams[c.strategy] = c.family
        if not series:
            continue
        label = NAMES.get(m, m) + (
            " (softmax: c̄·softmax proxy, dashed)" if m in CALIBRATION else ""
        )
        fig = plot_metric_vs_epsilon(series, metric=m, families=fams, ylabel=label,
                                     title=f"{_dataset_name(group[0])} · noise {group[2]}")  # fmt: skip
        path = fig_dir / f"{slug}_{m}_vs_eps.png"
        fig.savefig(path, dpi=110)
        out.append(path.name)
    return out


def predicted_citl_shift(cell: Cell, record: dict) -> float | None:
    """D8.2's predicted change of the rare labels' mean prediction from ε = 0 to ``cell``.

    The expected smoothed target of a label of base rate π exceeds π by ``ε(½ − π)`` for
    ``binary``, ``ε(1/N − π)`` for ``binary_uniform``, ``ε(π̄ − π)`` for ``mass_preserving``
    (π̄ = mean base rate ≈ training cardinality / N), ``ε₋(1 − π) − ε₊π`` for ``asymmetric`` and
    0 for ``prior`` (derivations/08_prior.md, D8.2). A model at the smoothed optimum shifts its
    mean prediction by that much, so averaged over the rare labels (π = their training base
    rates) this is the predicted change of ``citl_rare`` against ε = 0.

    Parameters
    ----------
    cell : Cell
        A sigmoid-family cell.
    record : dict
        The stored record of one of its runs (for the rare labels' rates, ``N`` and ``c̄``).

    Returns
    -------
    float or None
        None for the softmax family (no per-label target mean to match) or without rare labels.
    """
    rare = record.get("data", {}).get("rare")
    if not rare or not rare["n"] or cell.family != "sigmoid":
        return None
    pi = float(np.mean(rare["train_rates"]))
    n_labels, eps = record["data"]["n_labels"], cell.epsilon
    if cell.strategy == "binary":
        return eps * (0.5 - pi)
    if cell.strategy == "binary_uniform":
        return eps * (1.0 / n_labels - pi)
    if cell.strategy == "mass_preserving":
        return eps * (record["data"]["train_cardinality"] / n_labels - pi)
    if cell.strategy == "asymmetric":
        return cell.epsilon_neg * (1 - pi) - cell.epsilon_pos * pi
    if cell.strategy == "prior":
        return 0.0
    return None


def _rare_summary(rare: dict | None) -> str:
    if not rare:
        return "—"
    return f"{rare['n']} ({rare['n_with_test_positives']} with a test positive)"


def _rare_section(cells, all_cells, records, group, fig_dir, slug) -> list[str]:
    """Rare-label table (mean ± sd, Δ CITL vs ε = 0 and its D8.2 prediction) and CITL plot."""
    rare = records[cells[0].keys[0]]["data"].get("rare")
    if rare is None:
        return ["Rare-label metrics: not recorded (runs stored before they existed).", ""]
    head = (f"### Rare labels of {_dataset_name(group[0])}: training base rate < "
            f"{rare['threshold']:g}")  # fmt: skip
    if rare["n"] == 0:
        return [head, "", "No label is rare in this data set.", ""]
    lines = [
        head, "",
        f"{_rare_summary(rare)} of {records[cells[0].keys[0]]['data']['n_labels']} labels; "
        f"mean training base rate {np.mean(rare['train_rates']):.4f}. Rare macro mAP averages "
        "the rare labels with a test positive. CITL = mean predicted probability − observed "
        "test rate, averaged over the rare labels (> 0: over-predicted). D8.2 Δ = predicted "
        "CITL change from ε = 0 at the smoothed optimum (sigmoid family; for `prior` 0 up to "
        "the add-one prior the runner estimates, ε(π̃ − π) with π̃ = (c + 1)/(m + 2)).", "",
        "<details><summary>Rare labels (index: name, training base rate)</summary>", "",
        ", ".join(f"{j}: {n} ({r:.4f})" for j, n, r in
                  zip(rare["labels"], rare["names"], rare["train_rates"], strict=True)),
        "", "</details>", "",
    ]  # fmt: skip
    head = ["strategy", "ε", "seeds", *(NAMES[m] for m in RARE_METRICS),
            "Δ rare CITL vs ε=0 (p, wins)", "D8.2 Δ"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    series, ref, fams = {}, {}, {}
    for c in cells:
        pred = predicted_citl_shift(c, records[c.keys[0]])
        dag = "†" if c.family == "softmax" else ""
        row = [c.strategy, c.eps_label, str(len(c.seeds))]
        row += [_pm(c, m) + (dag if m in CALIBRATION else "") for m in RARE_METRICS]
        row += [_delta(c, baseline_of(c, all_cells), "citl_rare"),
                "—" if pred is None or c.is_baseline else f"{pred:+.4f}"]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
        base = baseline_of(c, all_cells)
        if c.epsilon_pos is None:
            e, mu, sd = series.setdefault(c.strategy, ([], [], []))
            e.append(c.epsilon)
            mu.append(c.mean("citl_rare"))
            sd.append(c.sd("citl_rare"))
            fams[c.strategy] = c.family
            if pred is not None and base is not None:
                re_, rv = ref.setdefault(c.strategy, ([], []))
                re_.append(c.epsilon)
                rv.append(base.mean("citl_rare") + pred)
    lines += ["", PROXY_NOTE, ""] if any(c.family == "softmax" for c in cells) else [""]
    if series:
        fig = plot_metric_vs_epsilon(
            series, metric="citl_rare", families=fams, reference=ref, hline=0.0,
            ylabel="rare-label CITL (mean p − test rate)",
            title=f"{_dataset_name(group[0])} · noise {group[2]} · dotted: ε = 0 + D8.2",
        )  # fmt: skip
        path = fig_dir / f"{slug}_citl_rare_vs_eps.png"
        fig.savefig(path, dpi=110)
        lines += [f"![{path.name}](figures/{path.name})", ""]
    return lines


def _check_pairs(compare_pairs) -> list[tuple[str, str]]:
    pairs = []
    for pair in compare_pairs:
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(
                f"compare_pairs: expected (strategy_a, strategy_b) pairs, got {pair!r}"
            )
        a, b = pair
        for name in (a, b):
            if name not in STRATEGIES:
                raise ValueError(
                    f"compare_pairs: unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
                )
        if a == b:
            raise ValueError(f"compare_pairs: a strategy against itself ({a!r})")
        pairs.append((a, b))
    return pairs


def _missing_strategies(pair: tuple[str, str], have: set[str]) -> str | None:
    """``"no runs of 'a' [or 'b']"`` for the strategies of ``pair`` not in ``have``, or None."""
    missing = [s for s in dict.fromkeys(pair) if s not in have]
    return f"no runs of {' or '.join(map(repr, missing))}" if missing else None


def comparison_gaps(
    store_path: str | Path, compare_pairs: Sequence[tuple[str, str]]
) -> list[tuple[tuple[str, str], str]]:
    """The strategy pairs that the store at ``store_path`` cannot compare, each with the reason.

    A pair cannot be compared when a strategy has no finished run in the store, or when the two
    never share a data set, setting, noise and ε. :func:`write_report` renders such a pair as a
    note in its section; the command line refuses it.

    Parameters
    ----------
    store_path : str or Path
        An existing result store.
    compare_pairs : sequence of (str, str)
        As for :func:`write_report`.

    Returns
    -------
    list of ((str, str), str)
        ``((a, b), reason)`` for every pair that cannot be compared, in the given order.
    """
    pairs = _check_pairs(compare_pairs)
    if not pairs:
        return []
    with ResultStore(store_path, readonly=True) as store:
        cells = cells_from_runs(store.runs())
    have = {c.strategy for c in cells}
    gaps = []
    for a, b in pairs:
        if missing := _missing_strategies((a, b), have):
            reason = f"{missing} in the store"
        elif not strategy_pairs(cells, a, b):
            reason = f"no data set and ε at which the store holds runs of both {a!r} and {b!r}"
        else:
            continue
        gaps.append(((a, b), reason))
    return gaps


def _comparison_section(cells: list[Cell], pairs: list[tuple[str, str]]) -> list[str]:
    lines = [
        "## Paired comparisons between strategies", "",
        "Δ = mean over seeds of (A − B) at the same data set, setting, noise and ε; the seeds "
        "are shared, so each seed gives one paired difference. p = two-sided paired t-test; "
        "wins = seeds on which A is better (for the signed rare CITL: closer to 0). "
        f"Metrics: {', '.join(NAMES.get(m, m) for m in COMPARE_METRICS)}. At ε = 0 every "
        "sigmoid strategy is plain BCE, so A and B coincide there (Δ = 0, p n/a). Same "
        "caveats as the ε-vs-0 tests (see Methods).", "",
    ]  # fmt: skip
    for a, b in pairs:
        matched = strategy_pairs(cells, a, b)
        lines += [f"### {a} vs {b}", ""]
        if not matched:
            lines += [f"No data set and ε at which the store holds both `{a}` and `{b}`.", ""]
            continue
        head = ["data set", "noise", "setting", "ε", "seeds"]
        head += [f"Δ {NAMES.get(m, m)} (p, wins)" for m in COMPARE_METRICS]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for ca, cb in matched:
            row = [_dataset_name(ca.dataset), ca.noise, ca.setting, ca.eps_label]
            row.append(str(len(set(ca.seeds) & set(cb.seeds))))
            row += [_delta(ca, cb, m) for m in COMPARE_METRICS]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return lines


def _write_comparisons_csv(path: Path, cells: list[Cell], pairs) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "setting", "noise", "strategy_a", "strategy_b", "epsilon",
                    "epsilon_pos", "epsilon_neg", "metric", "n", "mean_a", "mean_b",
                    "diff_a_minus_b", "p_paired_t", "wins_a"])  # fmt: skip
        for a, b in pairs:
            for ca, cb in strategy_pairs(cells, a, b):
                for m in METRICS:
                    cmp = compare(ca, cb, m)
                    w.writerow([ca.dataset, ca.setting, ca.noise, a, b, ca.epsilon,
                                ca.epsilon_pos, ca.epsilon_neg, m, cmp.n, ca.mean(m),
                                cb.mean(m), cmp.diff, cmp.p, cmp.wins])  # fmt: skip


def _pooled_diagram(store, cell: Cell, records, y: np.ndarray, n_bins: int):
    """Reliability diagram of every test entry of every seed of ``cell`` (None without logits)."""
    scores, fmt = [], "probs"
    for k in cell.keys:
        logits = store.logits(k)
        if logits is not None:
            card = records[k]["data"]["train_cardinality"]
            s, fmt = calibration_input(logits, cell.family, cardinality=card)
            scores.append(s)
    if not scores:
        return None, 0
    yy = np.concatenate([y] * len(scores))
    d = M.reliability_diagram(yy, np.concatenate(scores), input_format=fmt, n_bins=n_bins)
    return d, len(scores)


def _reliability(store, cells, records, group, fig_dir, slug, n_bins) -> str | None:
    y = store.test_labels(group[0])
    if y is None:
        return None
    diagrams, titles = {}, {}
    for strategy in dict.fromkeys(c.strategy for c in cells):
        mine = [c for c in cells if c.strategy == strategy]
        top = max(mine, key=lambda c: c.epsilon + (c.epsilon_pos or 0) + (c.epsilon_neg or 0))
        picks = {"ε = 0": next((c for c in mine if c.is_baseline), None), "largest ε": top}
        for col, c in picks.items():
            if c is None or (col == "largest ε" and c.is_baseline):
                continue
            d, n = _pooled_diagram(store, c, records, y, n_bins)
            if d is not None:
                prob = "c̄·softmax proxy" if c.family == "softmax" else "σ(logit)"
                diagrams[(strategy, col)] = d
                titles[(strategy, col)] = f"{strategy}, {c.eps_text}\n{prob}, {n} seeds"
    if not diagrams:
        return None
    fig = plot_reliability_grid(
        diagrams, titles=titles,
        title=f"{_dataset_name(group[0])} · noise {group[2]} · pooled over labels and seeds",
    )  # fmt: skip
    path = fig_dir / f"{slug}_reliability.png"
    fig.savefig(path, dpi=80)
    return path.name


def write_report(
    store_path: str | Path,
    out_dir: str | Path,
    *,
    headline: tuple[str, ...] = HEADLINE,
    reliability: bool = True,
    progress: bool = False,
    compare_pairs: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``report.md``, ``summary.csv`` and figures for the store at ``store_path``.

    Parameters
    ----------
    store_path : str or Path
        An existing result store.
    out_dir : str or Path
        Output directory (created).
    headline : tuple of str
        Metrics of the main tables and metric-vs-ε plots (names of :data:`.evaluate.METRICS`).
    reliability : bool
        Draw pooled reliability diagrams (ε = 0 and the largest ε of each strategy).
    progress : bool
        Show a progress bar over the result groups.
    compare_pairs : sequence of (str, str)
        Strategy pairs ``(a, b)`` to compare at equal ε on the shared seeds (section "Paired
        comparisons between strategies" and ``comparisons.csv``): Δ = a − b of the metrics of
        :data:`COMPARE_METRICS`, paired t-test p, wins of ``a``.

    Returns
    -------
    Path
        The Markdown file.

    Raises
    ------
    FileNotFoundError
        If there is no store at ``store_path``.
    ValueError
        If the store holds no finished run, ``headline`` names an unknown metric, or a
        ``compare_pairs`` entry is malformed or names an unknown strategy.
    """
    for m in headline:
        if m not in METRICS:
            raise ValueError(f"headline metric {m!r} is unknown; known: {', '.join(METRICS)}")
    pairs = _check_pairs(compare_pairs)
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    with ResultStore(store_path, readonly=True) as store:
        runs = list(store.runs(with_record=True))
        if not runs:
            raise ValueError(f"the store {str(store_path)!r} holds no finished run yet")
        records = {r["key"]: r["record"] for r in runs}
        cells = cells_from_runs(runs)
        failures = [f for f in store.failures() if f["key"] not in records]
        lines = _header(store_path, runs, records, failures, store.get_meta("name"))
        groups = list(dict.fromkeys(c.group() for c in cells))
        for group in tqdm(groups, desc="report", disable=not progress):
            mine = [c for c in cells if c.group() == group]
            slug = _slug(_dataset_name(group[0]), group[1], group[2])
            n_bins = records[mine[0].keys[0]]["spec"]["eval"]["n_bins"]
            lines += [
                f"## {_dataset_name(group[0])} · noise `{group[2]}` · setting `{group[1]}`",
                "",
                f"Data set `{group[0]}`. Mean ± sd over seeds; Δ = mean per-seed difference to "
                "ε = 0 of the same strategy, paired t-test p-value, and wins = seeds on which "
                "ε is better.",
                "",
                *_results_table(mine, cells, headline),
                "",
                PROXY_NOTE,
                "",
            ]
            for name in _plots(mine, group, headline, fig_dir, slug):
                lines += [f"![{name}](figures/{name})", ""]
            lines += _rare_section(mine, cells, records, group, fig_dir, slug)
            if reliability:
                rel = _reliability(store, mine, records, group, fig_dir, slug, n_bins)
                if rel:
                    lines += [f"![{rel}](figures/{rel})", ""]
            lines += ["<details><summary>All metrics</summary>", "", *_all_metrics_table(mine),
                      "", "</details>", ""]  # fmt: skip
    _write_csv(out_dir / "summary.csv", cells)
    if pairs:
        lines += _comparison_section(cells, pairs)
        _write_comparisons_csv(out_dir / "comparisons.csv", cells, pairs)
    lines += _methods()
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _header(store_path, runs, records, failures, name) -> list[str]:
    from multilabel_ls import __version__

    settings = {r["setting"]: records[r["key"]]["spec"] for r in runs}
    secs = sum(rec.get("seconds", 0.0) for rec in records.values())
    lines = [
        f"# {name + ': ' if name else ''}multi-label label smoothing results",
        "",
        f"Store `{store_path}`: {len(runs)} finished runs "
        f"({secs / 60:.1f} CPU-minutes of training and evaluation). "
        f"multilabel_ls {__version__}; report written "
        f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.",
        "",
    ]
    if failures:
        lines += [f"**{len(failures)} run(s) failed and are not in the tables** (they are retried "
                  "by the next `mlls run`):", ""]  # fmt: skip
        lines += [f"- `{f['label']}`: {f['error']}" for f in failures[:20]] + [""]
    lines += ["## Settings", ""]
    for digest, spec in settings.items():
        lines += [f"Setting `{digest}`:", "", "```json",
                  json.dumps({"train": spec["train"], "eval": spec["eval"]}), "```", ""]  # fmt: skip
    lines += _data_table(runs, records)
    return lines


def _mean_rate(v: list) -> str:
    return "—" if any(x is None for x in v) else f"{np.mean(v):.4f}"


def _data_table(runs, records) -> list[str]:
    by_data: dict[tuple[str, str], list[dict]] = {}
    policies: dict[str, tuple[str, str, str]] = {}
    for r in runs:
        rec = records[r["key"]]
        by_data.setdefault((r["dataset"], r["noise"]), []).append(rec["data"])
        policies[r["strategy"]] = (r["family"], rec["loss"]["empty_rows"], rec["loss"]["full_rows"])
    lines = [
        "## Data", "",
        "Means over the runs' seeds (each seed carves its own validation set and draws its own "
        "noise). c̄ = mean positives per fit row (the labels the model trains on).", "",
        "| data set | noise | fit / val / test rows | labels | c̄ | empty fit rows | "
        "realised drop / add rate | rare labels (training rate < 5 %) |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for (ds, noise), infos in by_data.items():
        d0 = infos[0]
        card = np.mean([i["train_cardinality"] for i in infos])
        empty = np.mean([i["n_empty_fit_rows"] for i in infos])
        drop = _mean_rate([i["noise"]["realised_drop_rate"] for i in infos])
        add = _mean_rate([i["noise"]["realised_add_rate"] for i in infos])
        lines.append(
            f"| {_dataset_name(ds)} | {noise} | {d0['n_fit']} / {d0['n_val']} / {d0['n_test']} | "
            f"{d0['n_labels']} | {card:.3f} | {empty:.1f} | {drop} / {add} | "
            f"{_rare_summary(d0.get('rare'))} |"
        )
    lines += ["", "Row policies passed to the loss (`n` = positives in a row, `N` = labels): "
              "`skip` drops a row the strategy leaves undefined from the loss and its mean.", "",
              "| strategy | family | empty_rows (n = 0) | full_rows (n = N) |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {s} | {f} | {e} | {u} |" for s, (f, e, u) in policies.items()]
    return [*lines, ""]


METHODS = """## Methods

**Training.** One network per run (an MLP for feature data, a small CNN for image data), Adam,
minibatches, early stopping on the validation macro mAP (validation rows carved from the
training split with the run's seed) and the best epoch's weights restored; the loss is
`multilabel_smoothing_loss` with the run's strategy and ε. Everything random in a run derives
from its seed, and the seed is shared across ε and strategies, so cells are paired.

**Ranking scores** (mAP, LRAP, ranking loss, coverage, one-error). AP ranks the samples of one
label, so a label's score must be comparable across samples. Sigmoid strategies: the logit.
Softmax strategies: the row's log-softmax `x_j - logsumexp(x)` (raw logits are defined only up
to a per-row constant). The per-row metrics are unchanged by that shift. Labels without test
positives are left out of macro mAP.

**Presence probabilities** (ECE, Brier, NLL, Hamming loss, F1 at 0.5). Sigmoid: `σ(x_j)`.
Softmax strategies model a distribution over the labels, not per-label presence, so there is
no presence probability to calibrate; the report uses the *proxy*
`clip(c̄ · softmax(x)_j, 0, 1)` with `c̄` the training label cardinality, marked † everywhere.
It is a read-out heuristic, not a property of the softmax objective: compare calibration
within the sigmoid family, and read the softmax numbers as "how well this proxy is
calibrated". ECE: 15 equal-width bins `[a, b)` (last bin closed), l1; classwise = per label,
then the mean over labels; pooled = all (sample, label) entries as one problem. Reliability
diagrams pool every test entry of every seed of a cell.

**Rare labels.** A label is rare when its base rate in the data set's training split (fit +
validation rows, before label noise) is below 5 %; the set is fixed per data set, recorded
with every run, and never looks at the test split. On the `K` rare labels: rare macro mAP =
macro AP over the rare labels with a test positive; rare ECE = the classwise ECE above
averaged over the rare labels only; rare Brier = mean over rare labels of the per-label
Brier score; rare CITL (calibration-in-the-large) = mean over rare labels of (mean predicted
probability − observed test rate), signed (> 0: over-predicted); rare |CITL| = the mean of
the absolute per-label values (a one-bin ECE per label). With few test positives per rare
label these numbers are noisy, and a rare label without test positives has an undefined AP
but a defined calibration (its test rate is 0).

**Statistics.** Mean ± sample sd (ddof = 1) over seeds. Each cell is compared with the ε = 0
cell of the same data set, setting, noise and strategy (`ε₊ = ε₋ = 0` for the asymmetric
ones) on the seeds both have, by the two-sided **paired t-test** on the per-seed differences
(`scipy.stats.ttest_rel`); "wins" counts the seeds on which ε is better in the metric's
direction. Caveats: with 5 seeds the test has 4 degrees of freedom and little power, it
assumes roughly normal differences, and its p-values are not corrected for the many
comparisons in a table (expect about one p < 0.05 in twenty null comparisons); an exact sign
or Wilcoxon signed-rank test cannot go below p = 0.0625 with 5 pairs, which is why the t-test
is the headline and the win count is shown next to it. The seeds share the data split, so the
spread shows training variability, not variability over data sets.

**Strategy comparisons.** Two strategies at the same data set, setting, noise and ε are
compared the same way: the paired t-test on the per-seed differences A − B over the shared
seeds (same carve, noise, initialisation and batch order), with wins = seeds on which A is
better (for the signed rare CITL: smaller in absolute value). The same caveats hold: few
degrees of freedom, normality assumed, and no correction for the many metrics × ε × data sets
compared.
"""


def _methods() -> list[str]:
    return [METHODS]


def _write_csv(path: Path, cells: list[Cell]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["dataset", "setting", "noise", "strategy", "family", "epsilon", "epsilon_pos",
                    "epsilon_neg", "metric", "n", "mean", "sd", "diff_vs_eps0", "p_paired_t",
                    "wins"])  # fmt: skip
        for c in cells:
            base = baseline_of(c, cells)
            for m in METRICS:
                cmp = compare(c, base, m) if base is not None and base is not c else None
                w.writerow([c.dataset, c.setting, c.noise, c.strategy, c.family, c.epsilon,
                            c.epsilon_pos, c.epsilon_neg, m, len(c.seeds), c.mean(m), c.sd(m),
                            cmp.diff if cmp else "", cmp.p if cmp else "",
                            cmp.wins if cmp else ""])  # fmt: skip
