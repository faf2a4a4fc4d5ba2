"""data_scripts/score_checkpoints.py: every kept checkpoint scored once, the choice, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import load_data_script

from histogan_lite import synthetic
from histogan_lite.training import TrainConfig, train


@pytest.fixture(scope="module")
def score():
    return load_data_script("score_checkpoints")


def test_scores_each_kept_checkpoint_once_and_chooses(score, tmp_path, capsys):
    torch.set_num_threads(1)
    images, truth = synthetic.make_patches(32, size=64, seed=0)
    config = TrainConfig(model="cdcgan", image_size=64, width=16, batch_size=8, steps=4, sample_every=0,
                         checkpoint_every=2)
    train(config, (images, truth["label"].to_numpy()), out=tmp_path, device="cpu", show_progress=False,
          keep_checkpoints=True)
    assert score.main([str(tmp_path), "--n", "12"]) == 0
    df = pd.read_csv(tmp_path / "scores_n12.csv")
    assert sorted(zip(df["step"], df["group"])) == [(2, "negative"), (2, "positive"), (4, "negative"), (4, "positive")]
    assert (df["floors"] == 6).all() and df["cov"].between(0, 1).all()
    assert "best: step" in capsys.readouterr().out
    assert score.main([str(tmp_path), "--n", "12"]) == 0  # nothing new: read back, not scored again
    assert len(pd.read_csv(tmp_path / "scores_n12.csv")) == 4
    df = df.sort_values(["step", "group"]).reset_index(drop=True)
    df["floors_passed"] = [1, 1, 3, 2]  # step 4's worst group passes more floors
    df["cpu_seconds"] = [10.0, 10.0, 20.0, 20.0]
    assert int(score.choose(df)["step"]) == 4
    assert int(score.choose(df, max_cpu_seconds=15)["step"]) == 2
    with pytest.raises(ValueError, match="within the CPU budget"):
        score.choose(df, max_cpu_seconds=-1)


def test_clear_errors(score, tmp_path, capsys):
    assert score.main([str(tmp_path)]) == 1
    assert "no checkpoint matches" in capsys.readouterr().err
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step_000100.json").write_text("{not json")
    assert score.main([str(tmp_path)]) == 1
    assert "step_000100.json" in capsys.readouterr().err  # the broken file is named, no traceback
    with pytest.raises(ValueError, match="step_<number>"):
        score.step_of(Path("checkpoint.json"))
