"""Worker for tests/test_training_ddp.py: a few training steps under torchrun, then a weight digest.

Run as ``python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py OUT``.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from histogan_lite.training import TrainConfig, train

torch.set_num_threads(1)
out = Path(sys.argv[1])
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
labels = np.arange(32) % 2
config = TrainConfig(model="cdcgan", image_size=64, width=16, batch_size=4, steps=3, sample_every=0, checkpoint_every=0)
result = train(config, (images, labels), out=out / "run", device="cpu", show_progress=False)
rank, world = dist.get_rank(), dist.get_world_size()
digest = hashlib.sha256()
for model in (result.G, result.D):
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
(out / f"rank{rank}.json").write_text(json.dumps({
    "rank": rank, "world": world, "digest": digest.hexdigest(),
    "loss_d": result.history["loss_d"].tolist(),
    "backend": dist.get_backend(),
}))
dist.destroy_process_group()
