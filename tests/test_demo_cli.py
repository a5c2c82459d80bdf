"""``python -m multilabel_ls``: bad arguments are argparse errors (exit 2), not tracebacks."""

from __future__ import annotations

import pytest

from multilabel_ls.__main__ import compare, main


@pytest.mark.parametrize(
    "argv, arg, value",
    [
        (["--epsilon", "1.5"], "--epsilon", "1.5"),
        (["--epsilon", "nan"], "--epsilon", "nan"),
        (["--epsilon=-inf"], "--epsilon", "-inf"),
        (["--epsilon", "-0.1"], "--epsilon", "-0.1"),
        (["--labels", "0"], "--labels", "0"),
        (["--labels", "1"], "--labels", "1"),
        (["--positives", "0"], "--positives", "0"),
        (["--positives", "-1"], "--positives", "-1"),
        (["--positives", "6", "--labels", "6"], "--positives", "6"),
        (["--positives", "7", "--labels", "6"], "--positives", "7"),
        (["--batch", "0"], "--batch", "0"),
        (["--seed", str(2**64)], "--seed", str(2**64)),
    ],
)
def test_bad_arguments_exit_2_naming_argument(argv, arg, value, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert f"error: argument {arg}: " in out.err and value in out.err
    assert "Traceback" not in out.err


@pytest.mark.parametrize(
    "argv",
    [
        ["--epsilon", "0"],
        ["--epsilon", "1"],  # asymmetric: epsilon_neg capped at 1 - epsilon_pos
        ["--epsilon", "0.95"],
        ["--labels", "2", "--positives", "1", "--batch", "1"],
        ["--labels", "6", "--positives", "5"],
        ["--seed", "-1"],
    ],
)
def test_valid_edge_arguments_run(argv, capsys):
    main(argv)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 + 10  # header, table head, rule, one row per strategy
    assert "nan" not in "\n".join(lines[3:])


def test_header_unchanged_at_default_epsilon(capsys):
    main([])
    assert "(asymmetric: epsilon_pos=0.1, epsilon_neg=0.01)" in capsys.readouterr().out


def test_compare_rejects_what_it_cannot_show():
    with pytest.raises(ValueError, match=r"positives must be below labels=3"):
        compare(batch=2, labels=3, positives=3)
    with pytest.raises(ValueError, match=r"batch must be at least 1"):
        compare(batch=0)
