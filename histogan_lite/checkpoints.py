"""All checkpoint I/O: one format for training state, exported generators and classifiers.

A checkpoint is a pair of files with one stem: ``<stem>.safetensors`` (tensors, no pickle) and
``<stem>.json`` (``"format": "histogan-lite-checkpoint"``, version, ``kind`` = ``"training"`` /
``"generator"`` / ``"classifier"``, the model configuration and the SHA-256 of the weights file), each
written atomically (:func:`histogan_lite.utils.atomic_path`) by one writer. :func:`checkpoint_paths` is the
one place that turns a user's path into that pair, and every save refuses to overwrite an existing pair
unless ``overwrite=True``. Classifier files of the earlier one-file format (configuration in the
safetensors header, ``kind`` = ``"histogan-lite/classifier"``) still load.

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
    "classifier_config",
    "save_classifier",
    "load_classifier",
]

CHECKPOINT_FORMAT = "histogan-lite-checkpoint"
CHECKPOINT_VERSION = 1
CLASSIFIER_KIND = "histogan-lite/classifier"  # header kind of the earlier one-file classifier format
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


def _write_pair(tensors: dict[str, torch.Tensor], st_path: Path, json_path: Path, body: dict) -> None:
    """Write the weights, then the JSON (format, version, ``body``, the weights' SHA-256), each atomically.

    A ``"sha256"`` key in ``body`` keeps its place in the JSON (its value is replaced by the digest).
    """
    from safetensors.torch import save_file

    with atomic_path(st_path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": CHECKPOINT_FORMAT})
        digest = _sha256(tmp)
    meta = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **body}
    meta["sha256"] = digest
    atomic_write_text(json_path, json.dumps(meta, indent=2) + "\n")


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
        tensors: flat dict of tensors: ``G.<param>``, ``D.<param>``, ``opt_g.<i>.<key>``, ``opt_d.<i>.<key>``,
            and, when the run keeps a moving average of G (``config.g_ema``), ``G_ema.<param>`` and
            ``G_ema.n_averaged``.
        meta: JSON-able extras (optimizer param groups, model configs, wall time, hardware).
    """

    config: TrainConfig
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @classmethod
    def capture(cls, G, D, opt_g, opt_d, config: TrainConfig, step: int, ema=None, **extra) -> "Checkpoint":
        """Snapshot (unwrapped) models and optimizers after ``step`` completed steps; ``ema``: the run's
        :class:`~histogan_lite.ema.GeneratorEMA` or None."""
        tensors = {f"G.{k}": v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
        if ema is not None:
            tensors.update({f"G_ema.{k}": v for k, v in ema.state_tensors().items()})
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
        st_path, json_path = checkpoint_paths(path)
        _check_free(st_path, json_path, overwrite)
        body = {"kind": "training", "step": self.step, "config": self.config.to_dict(), "sha256": None, **self.meta}
        _write_pair(self.tensors, st_path, json_path, body)
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

    def restore(self, G, D, opt_g=None, opt_d=None, source: str | os.PathLike = "checkpoint", ema=None) -> None:
        """Load the weights (and optimizer states, the moving average of G when given) into unwrapped models.

        Raises:
            ValueError: when a model's architecture or image size differs from the checkpoint's, or
                ``ema`` is given and the checkpoint has no moving average.
        """
        source = Path(source)
        if ema is not None:
            ema_state = {k[6:]: v for k, v in self.tensors.items() if k.startswith("G_ema.")}
            if not ema_state:
                raise ValueError(f"{source} holds no moving average of G (it was trained with g_ema=0)")
            ema.load_state_tensors(ema_state)
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
    st_path, json_path = checkpoint_paths(path)
    _check_free(st_path, json_path, overwrite)
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in G.state_dict().items()}
    body = {"kind": "generator", "generator": G.config(), "dtype": str(dtype).replace("torch.", ""), "sha256": None, **meta}
    if renderer_version is not None:
        body["renderer_version"] = str(renderer_version)
    if cpu_seconds is not None:
        body["train_cpu_seconds"] = round(float(cpu_seconds), 1)
    _write_pair(tensors, st_path, json_path, body)
    return st_path


def load_generator_checkpoint(
    path: str | os.PathLike,
    *,
    image_size: int | None = None,
    n_classes: int | None = None,
    device: str | torch.device = "cpu",
    weights: str = "sampling",
) -> Generator:
    """Load the generator of a training checkpoint or of a generator export, in eval mode.

    A training checkpoint of a run with a moving average of G (``g_ema``, :mod:`histogan_lite.ema`)
    gives the averaged generator unless ``weights="raw"``.

    Args:
        path: ``<stem>.safetensors`` or ``<stem>.json`` (or the stem).
        weights: ``"sampling"`` (the moving average when the checkpoint has one, else G) or ``"raw"``
            (the trained G itself).
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
    if weights not in ("sampling", "raw"):
        raise ValueError(f"weights must be 'sampling' or 'raw', got {weights!r}")
    tensors = _read_tensors(st_path, meta)
    prefix = "G." if meta.get("kind") == "training" else ""
    if prefix and weights == "sampling" and "G_ema.n_averaged" in tensors:
        prefix = "G_ema."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and k != "G_ema.n_averaged"}
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
    return G.to(device).eval()  # on purpose: a freshly built model is returned ready for inference (documented)


def classifier_config(model: nn.Module) -> dict:
    """The architecture of one of the package's classifiers, as its checkpoint JSON records it.

    Returns:
        ``{"kind": "cnn" | "inception_v3", "image_size": int, "n_classes": int, "width": int}``
        (``width`` is 0 for Inception V3, which has none).

    Raises:
        TypeError: ``model`` is not one of the package's classifiers.
    """
    _check_model(model)
    return {"kind": model.kind, "image_size": int(model.image_size), "n_classes": int(model.n_classes),
            "width": int(model.width)}


def _describe_classifier(cfg: dict) -> str:
    return (f"{cfg.get('kind')} classifier at {cfg.get('image_size')} px, {cfg.get('n_classes')} classes, "
            f"width {cfg.get('width')}")


def save_classifier(model: nn.Module, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save a classifier: ``<stem>.safetensors`` (weights) + ``<stem>.json`` (architecture, SHA-256), atomically.

    The same format as the generator checkpoints (:func:`save_generator`): the JSON has ``"kind":
    "classifier"`` and ``"classifier"`` = :func:`classifier_config`.

    Args:
        model: a classifier from :func:`~histogan_lite.classifier.train_classifier` /
            :func:`~histogan_lite.classifier.build_classifier`.
        path: ``<stem>``, ``<stem>.safetensors`` or ``<stem>.json`` (see :func:`checkpoint_paths`).
        overwrite: replace an existing checkpoint of that name.

    Returns:
        Path of the ``.safetensors`` file.

    Raises:
        FileExistsError: ``<stem>.safetensors`` or ``<stem>.json`` exists and ``overwrite`` is False.
        TypeError: ``model`` is not one of the package's classifiers.
    """
    cfg = classifier_config(model)
    st_path, json_path = checkpoint_paths(path)
    _check_free(st_path, json_path, overwrite)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _write_pair(tensors, st_path, json_path, {"kind": "classifier", "classifier": cfg})
    return st_path


def load_classifier(path: str | os.PathLike, *, device: str | torch.device = "auto") -> nn.Module:
    """Load a classifier saved by :func:`save_classifier`, in eval mode.

    The JSON's format, version and SHA-256 are checked, then every tensor's shape against the
    architecture the JSON records, before any weight is copied. A classifier file of the package's
    earlier format (one ``.safetensors`` file whose header metadata carry ``kind`` =
    ``"histogan-lite/classifier"``, no JSON) still loads.

    Args:
        path: ``<stem>``, ``<stem>.safetensors`` or ``<stem>.json``.
        device: where to put the model (see :func:`histogan_lite.utils.select_device`).

    Returns:
        The classifier in eval mode.

    Raises:
        FileNotFoundError: no such checkpoint.
        ValueError: naming the file: it is corrupt or truncated, another kind of checkpoint (for example
            a generator from :mod:`histogan_lite.pretrained`; the message says which kind it is), or its
            tensors do not fit the architecture its JSON records (naming the tensor).
    """
    st_path, json_path = checkpoint_paths(path)
    if not json_path.exists() and st_path.is_file():
        model = _load_legacy_classifier(st_path)
    else:
        meta = _read_json(json_path)
        if meta.get("kind") != "classifier":
            raise ValueError(
                f"{json_path} is not a classifier checkpoint: its kind is {meta.get('kind')!r} (expected "
                "'classifier'). Generator checkpoints load with histogan_lite.pretrained.load_generator; "
                "classifiers are saved with save_classifier."
            )
        cfg = meta.get("classifier")
        if not isinstance(cfg, dict) or not {"kind", "image_size", "n_classes", "width"} <= set(cfg):
            raise ValueError(f"{json_path} describes no classifier (needs kind, image_size, n_classes, width)")
        model = _build_checked(cfg, _read_tensors(st_path, meta), st_path)
    return model.to(select_device(device)).eval()  # on purpose: a fresh model, returned ready for inference


def _build_checked(cfg: dict, state: dict, source: Path) -> nn.Module:
    """The classifier ``cfg`` describes, with ``state`` loaded after checking names and shapes."""
    model = build_classifier(cfg["kind"], image_size=int(cfg["image_size"]), n_classes=int(cfg["n_classes"]),
                             width=int(cfg["width"] or 16))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"classifier checkpoint {source} does not fit the {_describe_classifier(cfg)}: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(
                f"classifier checkpoint {source}: tensor {k!r} has shape {tuple(v.shape)}, but the architecture "
                f"its metadata record ({_describe_classifier(cfg)}) needs {tuple(own[k].shape)}"
            )
    model.load_state_dict(state)
    return model


def _load_legacy_classifier(st_path: Path) -> nn.Module:
    """A classifier in the earlier one-file format: configuration in the safetensors header metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(st_path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(f"{str(st_path)!r} is not a readable .safetensors checkpoint: {exc}") from exc
    if meta.get("kind") != CLASSIFIER_KIND:
        raise ValueError(
            f"{str(st_path)!r} is not a classifier checkpoint: its metadata kind is {meta.get('kind')!r} "
            f"(expected {CLASSIFIER_KIND!r}) and it has no {checkpoint_paths(st_path)[1].name}. Generator "
            "checkpoints load with histogan_lite.pretrained.load_generator; classifiers are saved with save_classifier."
        )
    cfg = {"kind": meta.get("classifier"), "image_size": meta.get("image_size"), "n_classes": meta.get("n_classes"),
           "width": meta.get("width", 16) or 16}
    return _build_checked(cfg, load_file(str(st_path)), st_path)
