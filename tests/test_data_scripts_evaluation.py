"""data_scripts/run_evaluation.py: options, markdown tables, refusals and clear errors (no long runs)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from conftest import load_data_script



@pytest.fixture(scope="module")
def run_evaluation():
    return load_data_script("run_evaluation")


def test_help_and_settings(run_evaluation, capsys):
    with pytest.raises(SystemExit) as exc:
        run_evaluation.main(["--help"])
    assert exc.value.code == 0
    assert "--preset" in capsys.readouterr().out
    args = run_evaluation.build_parser().parse_args(["--out", "x", "--preset", "paper", "--seeds", "7", "8"])
    s = run_evaluation.settings_from_args(args)
    assert s["sample_counts"] == [5000, 15000] and s["iterations"] == [500, 5000]
    assert s["aug_generated"] == 50000 and s["aug_imbalanced"] == 68 and s["seeds"] == [7, 8]


def test_markdown_table_layout(run_evaluation):
    cols = pd.MultiIndex.from_tuples([("trained with real images", "tested with real"), ("b", "c")])
    idx = pd.MultiIndex.from_tuples([(5000, 500), (5000, 5000)], names=["Num samples", "Num iterations"])
    df = pd.DataFrame([[0.85, 0.5], [0.86, np.nan]], index=idx, columns=cols)
    assert run_evaluation.markdown_table(df) == (
        "| Num samples | Num iterations | trained with real images / tested with real | b / c |\n"
        "|---|---|---|---|\n"
        "| 5000 | 500 | 0.850 | 0.500 |\n"
        "| 5000 | 5000 | 0.860 | nan |"
    )
    ints = pd.DataFrame({"n": [3], "acc": [0.25]}, index=pd.Index(["a"], name="setting"))
    assert run_evaluation.markdown_table(ints).splitlines()[-1] == "| a | 3 | 0.250 |"


def test_refuses_to_overwrite_and_reports_bad_checkpoints(run_evaluation, tmp_path, capsys):
    out = tmp_path / "res"
    (tmp_path / "res.md").write_text("old")
    assert run_evaluation.main(["--out", str(out), "--checkpoint", str(tmp_path / "none.safetensors")]) == 1
    assert "exists; pass --resume" in capsys.readouterr().err
    assert (tmp_path / "res.md").read_text() == "old"

    missing = run_evaluation.main(["--out", str(tmp_path / "b"), "--checkpoint", str(tmp_path / "none.safetensors")])
    assert missing == 1 and "none" in capsys.readouterr().err

    from histogan_lite.models import Generator
    from histogan_lite.training import save_generator

    dcgan = save_generator(Generator(image_size=64, n_classes=0, width=32), tmp_path / "dcgan")
    assert run_evaluation.main(["--out", str(tmp_path / "c"), "--checkpoint", str(dcgan)]) == 1
    assert "n_classes 2" in capsys.readouterr().err
