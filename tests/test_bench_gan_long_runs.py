"""benchmarks/bench_gan_long_runs.py: the kept long-run scores parse into the table, recipes read right."""

from __future__ import annotations

import pytest
from conftest import load_data_script

from histogan_lite.training import preset


@pytest.fixture(scope="module")
def bench():
    return load_data_script("bench_gan_long_runs", folder="benchmarks")


def test_recipe_changes_name_what_departs_from_the_paper(bench):
    assert bench.recipe_changes(preset("paper").to_dict()) == "the paper's recipe"
    cfg = preset("cpu", g_steps=1, g_ema=0.999, d_spectral_norm=True).to_dict()
    assert bench.recipe_changes(cfg) == "g_steps=1, d_spectral_norm=True, g_ema=0.999"
    assert bench.recipe_changes({**cfg, "r1_gamma": 0.1}) == "g_steps=1, d_spectral_norm=True, g_ema=0.999, r1_gamma=0.1"
    del cfg["r1_gamma"]  # a run kept before the field existed trained without the penalty
    assert bench.recipe_changes(cfg) == "g_steps=1, d_spectral_norm=True, g_ema=0.999"


def test_every_kept_run_has_a_row(bench):
    names = sorted(p.stem for p in bench.RUNS.glob("*.json"))
    assert names, "benchmarks/results/gan_long_runs/ holds no run"
    text = bench.table()
    assert all(f"| {n} " in text for n in names)
    row = bench.summary(names[0])
    assert row["floors (worst group)"].endswith(("of 5", "of 6"))


def test_collect_names_a_run_that_was_not_scored(bench, tmp_path, capsys):
    assert bench.main(["--collect", str(tmp_path), "x"]) == 1
    assert "holds no scores_n*.csv" in capsys.readouterr().err
