"""Experiment configuration: validated dataclasses, JSON/TOML files and grid expansion.

A grid is ``dataset × strategy × ε × noise × seed``. Symmetric strategies take every value of
``epsilons``; the asymmetric strategies (``asymmetric``, ``asymmetric_softmax``) take every
``(epsilon_pos, epsilon_neg)`` pair of ``asymmetric_epsilons`` instead.

Every field is checked on construction and a bad value raises :class:`ConfigError` naming the
field (``train.lr``, ``epsilons[2]`` ...); unknown fields are errors with a suggestion, so a
typo never silently falls back to a default.

File format (TOML shown; JSON with the same nesting works too)::

    name = "yeast-ls"
    datasets = ["yeast"]
    strategies = ["binary", "uniform"]
    epsilons = [0.0, 0.1, 0.2]
    noise = ["none", "missing:0.2"]
    seeds = [0, 1, 2]

    [train]
    lr = 1e-3
    max_epochs = 200

    [eval]
    n_bins = 15
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from multilabel_ls.noise import parse_noise_spec
from multilabel_ls.strategies import STRATEGIES, get_strategy

#: The strategies of the default grid (the yeast speed bar of issue 5).
DEFAULT_STRATEGIES = (
    "binary",
    "binary_uniform",
    "mass_preserving",
    "uniform",
    "positive_split",
    "unnormalized",
)
DEFAULT_EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.3)
MODELS = ("auto", "mlp", "cnn")
ROW_POLICY_CHOICES = ("auto", "keep", "skip", "renormalize", "error")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


# --------------------------------------------------------------------------- field checks


def _int(field: str, v: Any, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ConfigError(f"{field} must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{field} must be >= {lo}, got {v!r}")
    return int(v)


def _float(field: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ConfigError(f"{field} must be a finite number, got {v!r}")
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{field} must lie in [{lo}, {hi}], got {v!r}")
    return v


def _choice(field: str, v: Any, choices: Sequence[str]) -> str:
    if v not in choices:
        raise ConfigError(f"{field} must be one of {list(choices)}, got {v!r}")
    return v


def _list(field: str, v: Any) -> list:
    if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Sequence):
        raise ConfigError(f"{field} must be a list, got {v!r}")
    if not v:
        raise ConfigError(f"{field} must not be empty")
    return list(v)


def _unknown_fields(section: str, given: Mapping[str, Any], known: Sequence[str]) -> None:
    for k in given:
        if k not in known:
            close = difflib.get_close_matches(str(k), known, n=1)
            hint = f" (did you mean {section}{close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown field {section}{k!r}{hint}; known fields: {', '.join(known)}"
            )


# --------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Model and optimisation settings shared by every run of a grid.

    Attributes
    ----------
    model : {"auto", "mlp", "cnn"}
        ``"auto"``: a CNN for image data sets (``image_shape`` set, e.g. ``digits-multi``),
        an MLP otherwise.
    hidden : tuple of int
        MLP hidden widths (default one layer of 256, as ``MLPClassifier(256)``); for the CNN,
        the width of its fully connected layer(s).
    channels : tuple of int
        CNN convolution channels, one 3x3 conv + 2x2 max-pool block each.
    dropout : float
        Dropout after every hidden layer.
    lr, weight_decay : float
        Adam learning rate and (coupled, L2) weight decay.
    batch_size : int
        Minibatch size (``0``: full batch).
    max_epochs, patience : int
        Early stopping on validation macro mAP: stop after ``patience`` epochs without
        improvement and restore the best weights.
    val_fraction : float
        Share of the training split carved off (seeded) for validation.
    clean_validation : bool
        With label noise, carve the validation set before corrupting the labels (validate on
        clean labels) instead of after (noisy validation, as in practice; the default).
    standardize : bool
        Standardise features with statistics of the fitting rows only (per feature for
        tabular data, one mean/std for images).
    empty_rows, full_rows : {"auto", "keep", "skip", "renormalize", "error"}
        Row policies passed to the loss; ``"auto"`` = ``"keep"`` where the strategy defines
        the row, ``"skip"`` where it does not (``uniform``/``positive_split``/
        ``prior_softmax`` at ``n = 0``, ``positive_split`` at ``n = N``). The resolved value
        is recorded with every run.
    """

    model: str = "auto"
    hidden: tuple[int, ...] = (256,)
    channels: tuple[int, ...] = (16, 32)
    dropout: float = 0.6
    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 128
    max_epochs: int = 300
    patience: int = 20
    val_fraction: float = 0.2
    clean_validation: bool = False
    standardize: bool = True
    empty_rows: str = "auto"
    full_rows: str = "auto"

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "model", _choice("train.model", self.model, MODELS))
        for name in ("hidden", "channels"):
            vals = _list(f"train.{name}", getattr(self, name))
            s(self, name, tuple(_int(f"train.{name}[{i}]", v, 1) for i, v in enumerate(vals)))
        s(self, "dropout", _float("train.dropout", self.dropout, 0.0, 0.95))
        s(self, "lr", _float("train.lr", self.lr, 1e-8, 10.0))
        s(self, "weight_decay", _float("train.weight_decay", self.weight_decay, 0.0, 1.0))
        s(self, "batch_size", _int("train.batch_size", self.batch_size, 0))
        s(self, "max_epochs", _int("train.max_epochs", self.max_epochs, 1))
        s(self, "patience", _int("train.patience", self.patience, 1))
        s(self, "val_fraction", _float("train.val_fraction", self.val_fraction, 0.01, 0.9))
        for name in ("clean_validation", "standardize"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"train.{name} must be true or false, got {getattr(self, name)!r}"
                )
        s(self, "empty_rows", _choice("train.empty_rows", self.empty_rows, ROW_POLICY_CHOICES))
        s(self, "full_rows", _choice("train.full_rows", self.full_rows, ROW_POLICY_CHOICES))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation settings.

    Attributes
    ----------
    threshold : float
        Decision threshold on the presence probability for Hamming loss and F1.
    n_bins : int
        Equal-width bins of the calibration errors and reliability diagrams.
    """

    threshold: float = 0.5
    n_bins: int = 15

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _float("eval.threshold", self.threshold, 0.0, 1.0))
        object.__setattr__(self, "n_bins", _int("eval.n_bins", self.n_bins, 1))


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: what one training run does.

    ``key`` identifies the run in the store: a digest of every field that changes the result
    (data set, strategy, ε, noise, seed and the full train/eval configuration).
    """

    dataset: str
    strategy: str
    epsilon: float
    epsilon_pos: float | None
    epsilon_neg: float | None
    noise: str
    seed: int
    train: TrainConfig
    eval: EvalConfig
    data_dir: str | None = None

    def identity(self) -> dict[str, Any]:
        """The JSON-serialisable fields that define the run (``data_dir`` is not one)."""
        return {
            "dataset": self.dataset,
            "strategy": self.strategy,
            "epsilon": self.epsilon,
            "epsilon_pos": self.epsilon_pos,
            "epsilon_neg": self.epsilon_neg,
            "noise": self.noise,
            "seed": self.seed,
            "train": dataclasses.asdict(self.train),
            "eval": dataclasses.asdict(self.eval),
        }

    @property
    def key(self) -> str:
        """Stable 20-hex-digit digest of :meth:`identity`."""
        import hashlib

        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``yeast/uniform/eps=0.1/none/seed=3``."""
        eps = (
            f"eps+={self.epsilon_pos},eps-={self.epsilon_neg}"
            if self.epsilon_pos is not None
            else f"eps={self.epsilon}"
        )
        return f"{self.dataset}/{self.strategy}/{eps}/{self.noise}/seed={self.seed}"


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A full grid: data sets, strategies, ε values, noise models, seeds, settings.

    Attributes
    ----------
    name : str
        Free text, shown in the report title.
    datasets : tuple of str
        Anything :func:`multilabel_ls.data.load_dataset` accepts (``"yeast"``,
        ``"digits-multi"``, ``"mulan:<dir>"``, a Mulan name under ``data_dir`` ...).
    data_dir : str or None
        Directory of Mulan data sets for plain names.
    strategies : tuple of str
        Names from :data:`multilabel_ls.STRATEGIES`.
    epsilons : tuple of float
        ε values in [0, 1] for the symmetric strategies (include 0: the paired baseline).
    asymmetric_epsilons : tuple of (float, float)
        ``(epsilon_pos, epsilon_neg)`` pairs for the asymmetric strategies.
    noise : tuple of str
        Noise specs (:func:`multilabel_ls.noise.parse_noise_spec`), stored canonically.
    seeds : tuple of int
        Each seed fixes the validation carve, the noise draw, the initialisation, the batch
        order and dropout; the same seed is shared across ε, so ε-vs-0 differences are paired.
    train, eval : TrainConfig, EvalConfig
    """

    name: str = "experiment"  # the report's title (stored in the store's meta table)
    datasets: tuple[str, ...] = ("yeast",)
    data_dir: str | None = None
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    epsilons: tuple[float, ...] = DEFAULT_EPSILONS
    asymmetric_epsilons: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.1, 0.0), (0.1, 0.01))
    noise: tuple[str, ...] = ("none",)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        s = object.__setattr__
        if not isinstance(self.name, str):
            raise ConfigError(f"name must be a string, got {self.name!r}")
        ds = _list("datasets", self.datasets)
        for i, d in enumerate(ds):
            if not isinstance(d, str) or not d.strip():
                raise ConfigError(f"datasets[{i}] must be a non-empty string, got {d!r}")
        s(self, "datasets", tuple(ds))
        if self.data_dir is not None and not isinstance(self.data_dir, (str, Path)):
            raise ConfigError(f"data_dir must be a path string, got {self.data_dir!r}")
        s(self, "data_dir", None if self.data_dir is None else str(self.data_dir))
        strategies = _list("strategies", self.strategies)
        for i, name in enumerate(strategies):
            if name not in STRATEGIES:
                raise ConfigError(
                    f"strategies[{i}]: unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}"
                )
        s(self, "strategies", tuple(dict.fromkeys(strategies)))
        eps = _list("epsilons", self.epsilons)
        s(self, "epsilons", tuple(_float(f"epsilons[{i}]", e, 0, 1) for i, e in enumerate(eps)))
        pairs = []
        for i, p in enumerate(_list("asymmetric_epsilons", self.asymmetric_epsilons)):
            f = f"asymmetric_epsilons[{i}]"
            if isinstance(p, (str, Mapping)) or not isinstance(p, Sequence) or len(p) != 2:
                raise ConfigError(f"{f} must be a pair [epsilon_pos, epsilon_neg], got {p!r}")
            ep, en = _float(f + "[0]", p[0], 0, 1), _float(f + "[1]", p[1], 0, 1)
            if ep + en > 1:
                raise ConfigError(f"{f}: epsilon_pos + epsilon_neg must be <= 1, got {p!r}")
            pairs.append((ep, en))
        s(self, "asymmetric_epsilons", tuple(pairs))
        noise = []
        for i, n in enumerate(_list("noise", self.noise)):
            try:
                noise.append(str(parse_noise_spec(n)))
            except (TypeError, ValueError) as e:
                raise ConfigError(f"noise[{i}]: {e}") from None
        s(self, "noise", tuple(dict.fromkeys(noise)))
        seeds = _list("seeds", self.seeds)
        s(
            self,
            "seeds",
            tuple(dict.fromkeys(_int(f"seeds[{i}]", v, 0) for i, v in enumerate(seeds))),
        )
        if isinstance(self.train, Mapping):
            s(self, "train", _section(TrainConfig, self.train, "train."))
        if isinstance(self.eval, Mapping):
            s(self, "eval", _section(EvalConfig, self.eval, "eval."))
        if not isinstance(self.train, TrainConfig) or not isinstance(self.eval, EvalConfig):
            raise ConfigError("train and eval must be tables (mappings)")

    def expand(self) -> list[RunSpec]:
        """The grid as a list of :class:`RunSpec`, in dataset, noise, strategy, ε, seed order.

        Examples
        --------
        >>> cfg = ExperimentConfig(strategies=["binary", "uniform"], epsilons=[0, 0.1], seeds=[0, 1])
        >>> runs = cfg.expand()
        >>> len(runs), runs[-1].label
        (8, 'yeast/uniform/eps=0.1/none/seed=1')
        """
        runs = []
        for ds in self.datasets:
            for noise in self.noise:
                for strategy in self.strategies:
                    asym = "epsilon_pos" in get_strategy(strategy).parameters
                    cells = (
                        [(0.0, ep, en) for ep, en in self.asymmetric_epsilons]
                        if asym
                        else [(e, None, None) for e in self.epsilons]
                    )
                    for eps, ep, en in cells:
                        for seed in self.seeds:
                            runs.append(
                                RunSpec(
                                    ds,
                                    strategy,
                                    eps,
                                    ep,
                                    en,
                                    noise,
                                    seed,
                                    self.train,
                                    self.eval,
                                    self.data_dir,
                                )
                            )
        return runs

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what :func:`config_from_dict` reads back)."""
        d = dataclasses.asdict(self)
        d["asymmetric_epsilons"] = [list(p) for p in self.asymmetric_epsilons]
        return json.loads(json.dumps(d))


def _section(cls: type, given: Mapping[str, Any], prefix: str) -> Any:
    known = [f.name for f in dataclasses.fields(cls)]
    _unknown_fields(prefix, given, known)
    try:
        return cls(**dict(given))
    except TypeError as e:  # pragma: no cover - unknown fields are caught above
        raise ConfigError(f"{prefix}: {e}") from None


def config_from_dict(d: Mapping[str, Any]) -> ExperimentConfig:
    """Build and validate an :class:`ExperimentConfig` from a (parsed JSON/TOML) mapping.

    Raises
    ------
    ConfigError
        For unknown fields (with a suggestion) and invalid values, naming the field.
    """
    if not isinstance(d, Mapping):
        raise ConfigError(f"a configuration must be a table/object, got {type(d).__name__}")
    _unknown_fields("", d, [f.name for f in dataclasses.fields(ExperimentConfig)])
    d = dict(d)
    for sec, cls in (("train", TrainConfig), ("eval", EvalConfig)):
        if sec in d:
            if not isinstance(d[sec], Mapping):
                raise ConfigError(f"{sec} must be a table/object, got {d[sec]!r}")
            d[sec] = _section(cls, d[sec], f"{sec}.")
    return ExperimentConfig(**d)


def _read_toml(text: str) -> dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError(
                "TOML configs need Python >= 3.11 (tomllib) or the tomli package; "
                "use a .json config instead"
            ) from None
    return tomllib.loads(text)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read an :class:`ExperimentConfig` from a ``.toml`` or ``.json`` file.

    Raises
    ------
    ConfigError
        If the file is missing, unparsable (with the parser's position) or invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"config file {str(path)!r}: expected a .toml or .json file")
    try:
        data = _read_toml(text) if suffix == ".toml" else json.loads(text)
    except ValueError as e:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"config file {str(path)!r} is not valid: {e}") from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
