"""All checkpoint I/O: one format for training state, exported generators and classifiers.

A checkpoint is a pair of files with one stem: ``<stem>.safetensors`` (tensors, no pickle) and
``<stem>.json`` (``"format": "histogan-lite-checkpoint"``, version, ``kind`` = ``"training"`` /
``"generator"``, the model configuration and the SHA-256 of the weights file), each written atomically
(:func:`histogan_lite.utils.atomic_path`). :func:`checkpoint_paths` is the one place that turns a user's
path into that pair. Classifiers (:func:`save_classifier`) are one ``.safetensors`` file whose header
metadata carry their configuration (``kind`` = ``"histogan-lite/classifier"``).

Loading checks before any weight is copied: the JSON's format and version, the SHA-256, the
architecture recorded in the JSON against the model, and every tensor's shape against the model's
(a mismatch is a ``ValueError`` naming the file and the field, never torch's size-mismatch traceback).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .classifier import _check_model, build_classifier
from .models import PAPER_OPTIONS, Generator
from .synthetic import GENERATOR_VERSION
from .utils import atomic_path, atomic_write_text, select_device

if TYPE_CHECKING:  # training imports this module; TrainConfig is needed for annotations only
    from .training import TrainConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CLASSIFIER_KIND",
    "checkpoint_paths",
    "Checkpoint",
    "save_generator",
    "load_generator_checkpoint",
    "save_classifier",
    "load_classifier",
]

CHECKPOINT_FORMAT = "histogan-lite-checkpoint"
CHECKPOINT_VERSION = 1
CLASSIFIER_KIND = "histogan-lite/classifier"
_SUFFIXES = (".safetensors", ".json")

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The pair ``(<stem>.safetensors, <stem>.json)`` of a checkpoint path.

    Only a final ``.safetensors`` or ``.json`` suffix is removed; every other dot belongs to the name
    (``dcgan.epoch1`` -> ``dcgan.epoch1.safetensors``, not ``dcgan.safetensors``).

    Args:
        path: ``<stem>``, ``<stem>.safetensors`` or ``<stem>.json``.

    Raises:
        ValueError: when the path has no file name.
    """
    path = Path(path)
    if not path.name or path.name in _SUFFIXES:
        raise ValueError(f"checkpoint path {str(path)!r} has no file name")
    if path.suffix in _SUFFIXES:
        path = path.with_name(path.name[: -len(path.suffix)])
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


_paths = checkpoint_paths  # the old private name


def _check_free(st_path: Path, json_path: Path, overwrite: bool) -> None:
    if overwrite:
        return
    for p in (st_path, json_path):
        if p.exists():
            raise FileExistsError(
                f"checkpoint {p} already exists; refusing to overwrite it (pass overwrite=True to replace it, "
                "or choose another name)"
            )


def _optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"{prefix}.{idx}.{key}"] = t.detach().cpu().contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_state(tensors: dict, meta: dict, prefix: str) -> dict:
    state: dict = {}
    for name, t in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = t
    return {"state": state, "param_groups": meta["param_groups"]}


def _read_json(json_path: Path) -> dict:
    if not json_path.exists():
        raise FileNotFoundError(
            f"checkpoint metadata {json_path} not found; a checkpoint is a pair <stem>.safetensors + <stem>.json"
        )
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"checkpoint metadata {json_path} is not valid JSON (corrupt or truncated): {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{json_path} is not a histogan-lite checkpoint (expected \"format\": \"{CHECKPOINT_FORMAT}\")")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{json_path} has checkpoint version {meta.get('version')!r}; this package reads {CHECKPOINT_VERSION}")
    return meta


def _read_tensors(st_path: Path, meta: dict) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not st_path.exists():
        raise FileNotFoundError(f"checkpoint weights {st_path} not found")
    expected = meta.get("sha256")
    if expected and _sha256(st_path) != expected:
        raise ValueError(
            f"checkpoint weights {st_path} do not match the SHA-256 recorded in {checkpoint_paths(st_path)[1]} "
            f"(file corrupt, truncated or replaced; size {st_path.stat().st_size} bytes)"
        )
    try:
        return load_file(str(st_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"could not read checkpoint weights {st_path}: corrupt or truncated safetensors file ({exc})") from exc


def _describe(cfg: dict) -> str:
    model = "cdcgan" if cfg.get("n_classes") else "dcgan"
    return f"{model} {cfg.get('kind', 'model')} at {cfg.get('image_size')} px, width {cfg.get('width')}, latent_dim {cfg.get('latent_dim', '-')}"


def _load_state_checked(model: nn.Module, state: dict, cfg: dict, source: Path) -> None:
    """Copy ``state`` into ``model`` after checking the recorded architecture and every tensor's shape."""
    mine = model.config()
    defaults = PAPER_OPTIONS.get(mine["kind"], {})  # checkpoints older than the options hold the paper's
    theirs = {k: cfg.get(k, defaults.get(k)) for k in mine}
    if mine != theirs:
        fields = ", ".join(f"{k} {theirs[k]!r} (model: {mine[k]!r})" for k in mine if mine[k] != theirs[k])
        raise ValueError(f"checkpoint {source} holds a {_describe(cfg)}; expected a {_describe(mine)}: {fields}")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"checkpoint {source} does not fit the {_describe(mine)}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(
                f"checkpoint {source}: tensor {k!r} has shape {tuple(v.shape)}, but the architecture its JSON "
                f"records ({_describe(cfg)}) needs {tuple(own[k].shape)}; the JSON's width / image_size / "
                "n_classes / latent_dim do not describe these weights (file edited or mismatched pair)"
            )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})


@dataclass
class Checkpoint:
    """A training checkpoint: weights (safetensors) + configuration and state (JSON).

    Attributes:
        config: the run's :class:`TrainConfig`.
        step: number of completed training steps.
        tensors: flat dict of tensors: ``G.<param>``, ``D.<param>``, ``opt_g.<i>.<key>``, ``opt_d.<i>.<key>``.
        meta: JSON-able extras (optimizer param groups, model configs, wall time, hardware).
    """

    config: TrainConfig
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @classmethod
    def capture(cls, G, D, opt_g, opt_d, config: TrainConfig, step: int, **extra) -> "Checkpoint":
        """Snapshot (unwrapped) models and optimizers after ``step`` completed steps."""
        tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
        tensors.update({f"D.{k}": v.detach().cpu().contiguous() for k, v in D.state_dict().items()})
        tg, mg = _optimizer_tensors(opt_g, "opt_g")
        td, md = _optimizer_tensors(opt_d, "opt_d")
        tensors.update(tg)
        tensors.update(td)
        meta = {"generator": G.config(), "discriminator": D.config(), "opt_g": mg, "opt_d": md, **extra}
        return cls(config, step, tensors, meta)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``<stem>.safetensors`` then ``<stem>.json``, each atomically; returns the safetensors path.

        The JSON records the SHA-256 of the weights file, so a mismatched or truncated pair is detected.

        Raises:
            FileExistsError: when either file exists and ``overwrite`` is False.
        """
        from safetensors.torch import save_file

        st_path, json_path = checkpoint_paths(path)
        _check_free(st_path, json_path, overwrite)
        with atomic_path(st_path) as tmp:
            save_file(self.tensors, str(tmp), metadata={"format": CHECKPOINT_FORMAT})
            digest = _sha256(tmp)
        meta = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "kind": "training",
            "step": self.step,
            "config": self.config.to_dict(),
            "sha256": digest,
            **self.meta,
        }
        atomic_write_text(json_path, json.dumps(meta, indent=2) + "\n")
        return st_path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Checkpoint":
        """Read a checkpoint written by :meth:`save`.

        Raises:
            FileNotFoundError: when either file is missing.
            ValueError: naming the file, when it is corrupt, truncated, of another format or version,
                or a generator-only export (load those with :func:`load_generator_checkpoint`).
        """
        from .training import TrainConfig  # lazy: training imports this module

        st_path, json_path = checkpoint_paths(path)
        meta = _read_json(json_path)
        if meta.get("kind") != "training":
            raise ValueError(f"{json_path} is a {meta.get('kind')!r} checkpoint, not a training checkpoint (cannot resume from it)")
        tensors = _read_tensors(st_path, meta)
        config = TrainConfig.from_dict(meta["config"])
        step = int(meta["step"])
        extra = {k: v for k, v in meta.items() if k not in ("format", "version", "kind", "step", "config", "sha256")}
        return cls(config, step, tensors, extra)

    def restore(self, G, D, opt_g=None, opt_d=None, source: str | os.PathLike = "checkpoint") -> None:
        """Load the weights (and optimizer states when given) into unwrapped models.

        Raises:
            ValueError: when a model's architecture or image size differs from the checkpoint's.
        """
        source = Path(source)
        _load_state_checked(G, {k[2:]: v for k, v in self.tensors.items() if k.startswith("G.")}, self.meta["generator"], source)
        _load_state_checked(D, {k[2:]: v for k, v in self.tensors.items() if k.startswith("D.")}, self.meta["discriminator"], source)
        if opt_g is not None:
            opt_g.load_state_dict(_optimizer_state(self.tensors, self.meta["opt_g"], "opt_g"))
        if opt_d is not None:
            opt_d.load_state_dict(_optimizer_state(self.tensors, self.meta["opt_d"], "opt_d"))


def save_generator(G: Generator, path: str | os.PathLike, *, dtype: torch.dtype = torch.float16,
                   renderer_version: str | None = None, cpu_seconds: float | None = None,
                   overwrite: bool = False, **meta) -> Path:
    """Export a generator alone (for shipping): ``<stem>.safetensors`` + ``<stem>.json``, atomically.

    Args:
        G: the generator (its batch-norm running statistics are saved too).
        path: target path (``.safetensors`` suffix optional).
        dtype: storage dtype of floating tensors (float16 halves the size; loading returns float32).
        renderer_version: the demo renderer's ``GENERATOR_VERSION`` the generator was trained on
            (``None`` for other data); loading warns when it differs from the installed renderer's.
        cpu_seconds: process CPU seconds its training took (recorded as ``train_cpu_seconds``).
        overwrite: replace an existing checkpoint of that name.
        **meta: JSON-able extras recorded in the JSON (training command, steps, metrics...).

    Returns:
        Path of the ``.safetensors`` file.

    Raises:
        FileExistsError: when ``<stem>.safetensors`` or ``<stem>.json`` exists and ``overwrite`` is False.
    """
    from safetensors.torch import save_file

    st_path, json_path = checkpoint_paths(path)
    _check_free(st_path, json_path, overwrite)
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in G.state_dict().items()}
    with atomic_path(st_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": CHECKPOINT_FORMAT})
        digest = _sha256(tmp)
    body = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kind": "generator",
            "generator": G.config(), "dtype": str(dtype).replace("torch.", ""), "sha256": digest, **meta}
    if renderer_version is not None:
        body["renderer_version"] = str(renderer_version)
    if cpu_seconds is not None:
        body["train_cpu_seconds"] = round(float(cpu_seconds), 1)
    atomic_write_text(json_path, json.dumps(body, indent=2) + "\n")
    return st_path


def load_generator_checkpoint(
    path: str | os.PathLike,
    *,
    image_size: int | None = None,
    n_classes: int | None = None,
    device: str | torch.device = "cpu",
) -> Generator:
    """Load the generator of a training checkpoint or of a generator export, in eval mode.

    Args:
        path: ``<stem>.safetensors`` or ``<stem>.json`` (or the stem).
        image_size, n_classes: when given, the checkpoint must match them.
        device: where the returned model lives.

    Returns:
        A float32 :class:`Generator` in eval mode.

    Raises:
        FileNotFoundError: when a file of the pair is missing.
        ValueError: naming the file, when it is corrupt or truncated, or holds another architecture or
            image size than expected.
    """
    st_path, json_path = checkpoint_paths(path)
    meta = _read_json(json_path)
    cfg = meta.get("generator")
    if not isinstance(cfg, dict):
        raise ValueError(f"{json_path} describes no generator")
    if image_size is not None and cfg.get("image_size") != image_size:
        raise ValueError(f"checkpoint {st_path} holds a {_describe(cfg)}; expected image_size {image_size}")
    if n_classes is not None and cfg.get("n_classes") != n_classes:
        raise ValueError(f"checkpoint {st_path} holds a {_describe(cfg)}; expected n_classes {n_classes}")
    tensors = _read_tensors(st_path, meta)
    prefix = "G." if meta.get("kind") == "training" else ""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    options = {k: cfg.get(k, v) for k, v in PAPER_OPTIONS["generator"].items()}
    G = Generator(cfg["image_size"], cfg["n_classes"], cfg["latent_dim"], cfg["width"], **options)
    _load_state_checked(G, state, cfg, st_path)
    trained_on = meta.get("renderer_version")
    if trained_on is not None and str(trained_on) != GENERATOR_VERSION:
        warnings.warn(
            f"checkpoint {st_path} was trained on demo data of renderer version {trained_on}, but this package "
            f"renders version {GENERATOR_VERSION}: its samples may not match today's demo patches; retrain it "
            "(python -m histogan_lite.train) for a fair comparison",
            stacklevel=2,
        )
    return G.to(device).eval()




def save_classifier(model: nn.Module, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save a classifier's weights and configuration to a ``.safetensors`` file (atomic write).

    Args:
        model: a classifier from :func:`~histogan_lite.classifier.train_classifier` /
            :func:`~histogan_lite.classifier.build_classifier`.
        path: destination file.
        overwrite: replace an existing file.

    Returns:
        The path.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        TypeError: ``model`` is not one of the package's classifiers.
    """
    from safetensors.torch import save_file

    _check_model(model)
    meta = {"kind": CLASSIFIER_KIND, "classifier": model.kind, "image_size": str(model.image_size),
            "n_classes": str(model.n_classes), "width": str(model.width)}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, overwrite=overwrite) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return Path(path)


def load_classifier(path: str | os.PathLike, *, device: str | torch.device = "auto") -> nn.Module:
    """Load a classifier saved by :func:`save_classifier`.

    Args:
        path: a ``.safetensors`` file written by :func:`save_classifier`.
        device: where to put the model.

    Returns:
        The classifier in eval mode.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a safetensors file, is another kind of checkpoint (for example a
            generator from :mod:`histogan_lite.pretrained`; the message says which kind it is), or its
            tensors do not fit the architecture its metadata record (naming the tensor).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is not a readable .safetensors checkpoint: {exc}") from exc
    if meta.get("kind") != CLASSIFIER_KIND:
        raise ValueError(
            f"{str(path)!r} is not a classifier checkpoint: its metadata kind is {meta.get('kind')!r} "
            f"(expected {CLASSIFIER_KIND!r}). Generator checkpoints load with "
            "histogan_lite.pretrained.load_generator; classifiers are saved with save_classifier."
        )
    model = build_classifier(meta["classifier"], image_size=int(meta["image_size"]),
                             n_classes=int(meta["n_classes"]), width=int(meta.get("width", 16) or 16))
    state = load_file(str(path))
    own = model.state_dict()
    for k, v in state.items():
        if k in own and tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(
                f"classifier checkpoint {path}: tensor {k!r} has shape {tuple(v.shape)}, but the architecture "
                f"its metadata record ({meta['classifier']}, width {meta.get('width')}, image_size "
                f"{meta['image_size']}, n_classes {meta['n_classes']}) needs {tuple(own[k].shape)}"
            )
    model.load_state_dict(state)
    return model.to(select_device(device)).eval()
