"""DistributedDataParallel training: 2 CPU processes (gloo) end with identical weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.slow
def test_two_cpu_processes_hold_identical_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HISTOGAN_HEADLESS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert [r["backend"] for r in ranks] == ["gloo", "gloo"]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # gradients were averaged, buffers broadcast
    assert ranks[0]["loss_d"] != ranks[1]["loss_d"]  # each rank saw its own batches
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())  # written once, by rank 0
    assert meta["step"] == 3 and meta["world_size"] == 2
