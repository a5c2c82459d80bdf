"""Analysis of a result store for the notebooks: tables, statistics over seeds, post-hoc calibration.

Everything here reads a :class:`~multilabel_ls.experiments.ResultStore`; only
:func:`run_study` trains, through the experiment runner
(:func:`~multilabel_ls.experiments.run_grid`).

Studies
    :func:`run_study` trains a grid into the notebooks' shared store (:func:`store_path`),
    skipping runs already there; ``quick=True`` is the CI smoke setting.

Tables
    :func:`load_runs` turns the store into a :class:`RunTable`, a small column table (one row
    per run: its grid coordinates, ``cardinality`` and every metric) with ``filter``,
    ``unique``, ``to_markdown`` and an HTML view for notebooks; ``pandas.DataFrame(t.columns)``
    converts it where pandas is installed.

Statistics over seeds
    :func:`mean_ci` (Student-t interval of a mean), :func:`paired_difference` (paired t-test and
    t-interval of the mean difference, with the sign count), :func:`holm` (Holm's step-down
    adjustment for many comparisons), and the table-level :func:`summarize`,
    :func:`seed_differences`, :func:`paired_effects` and :func:`tuned_effects` (ε chosen per seed
    on validation mAP, against ε = 0). Runs of one seed share the validation
    carve, the noise draw, the initialisation and the batch order, so differences between cells
    are paired on the seed.

Figures
    :func:`plot_curves` (metric or difference against ε with interval bars, small multiples)
    and :func:`plot_effect_heatmap` (paired effects with significance marks).

Post-hoc calibration of stored logits
    :func:`posthoc_scores` re-reads a run's test scores under one of :data:`METHODS`: as trained
    (``"raw"``), through the de-smoothing map of the derivations (``"desmooth"``, D7.2-D7.5),
    through temperature scaling fitted on the run's **validation** logits and labels
    (``"temperature"``, :func:`fit_temperature`), or de-smoothed and then corrected for the
    known label-noise rates (``"backward"``, :func:`denoise_probabilities`). The test labels are
    never used to fit anything. :func:`posthoc_calibration` tabulates the calibration metrics of
    every run and method; :func:`pooled_reliability` pools runs into one reliability diagram.
"""

from .figures import plot_curves, plot_effect_heatmap
from .posthoc import (
    METHODS,
    TEMPERATURE_BOUNDS,
    Posthoc,
    StoredRun,
    calibration_metrics,
    denoise_probabilities,
    fit_temperature,
    iter_stored_runs,
    pooled_reliability,
    posthoc_calibration,
    posthoc_scores,
)
from .stats import (
    EPSILON_ZERO,
    Paired,
    holm,
    mean_ci,
    paired_difference,
    paired_effects,
    seed_differences,
    series,
    summarize,
    tuned_effects,
)
from .study import QUICK_TRAIN, Study, quick_grid, run_study, store_path
from .tables import CELL, RunTable, load_runs

__all__ = [
    "CELL",
    "EPSILON_ZERO",
    "METHODS",
    "QUICK_TRAIN",
    "TEMPERATURE_BOUNDS",
    "Paired",
    "Posthoc",
    "RunTable",
    "StoredRun",
    "Study",
    "calibration_metrics",
    "denoise_probabilities",
    "fit_temperature",
    "holm",
    "iter_stored_runs",
    "load_runs",
    "mean_ci",
    "paired_difference",
    "paired_effects",
    "plot_curves",
    "plot_effect_heatmap",
    "pooled_reliability",
    "posthoc_calibration",
    "posthoc_scores",
    "quick_grid",
    "run_study",
    "seed_differences",
    "series",
    "store_path",
    "summarize",
    "tuned_effects",
]
