"""Sliders over the latent space: live ipywidgets in Jupyter/Colab, pre-rendered frames in the static book.

A slider regenerates an image as one number changes: the interpolation weight lambda of eq. (5), the mix
between the cDCGAN's two classes, or the strength of an attribute vector (paper 3.2.2-3.2.4).

ipywidgets need a running kernel, which the HTML book does not have. So every slider also renders a
fixed set of frames and embeds them as base64 PNG data URIs in a small HTML block with a range input and
one inline ``oninput`` handler (no external JavaScript, no CDN): moving it swaps the image's ``src`` to
another frame, with or without a kernel. The block is a ``<div class="histogan-slider">`` with
``data-n-frames``, ``data-index`` (the frame shown), ``data-labels`` and ``data-frames`` (JSON lists of the
readouts and of the frames' data URIs); inside it one ``<img class="histogan-slider-frame">``, the input
``<input class="histogan-slider-input" type="range">`` and the readout ``<span class="histogan-slider-value">``
(browser tests rely on these names).

Headless runs (``histogan_lite.utils.is_headless()``: CI, papermill, the book build) never create
ipywidgets, so nothing waits for a front end and no widget state is stored in the notebook.
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import latent
from .utils import as_uint8_images
from .utils import is_headless

__all__ = [
    "png_bytes",
    "frames_html",
    "LatentSlider",
    "latent_slider",
    "interpolation_slider",
    "class_mix_slider",
    "attribute_slider",
]

_ONINPUT = (
    "var c=this.closest('.histogan-slider'),i=+this.value,f=c.querySelector('.histogan-slider-frame'),"
    "l=JSON.parse(c.getAttribute('data-labels'))[i];"
    "f.src=JSON.parse(c.getAttribute('data-frames'))[i];"
    "f.alt=c.getAttribute('data-alt')+', '+l;"
    "c.setAttribute('data-index',i);"
    "c.querySelector('.histogan-slider-value').textContent=l;"
)


def _frame_image(image) -> np.ndarray:
    """One frame as uint8 (H, W, 3): several images are placed side by side with a 2-pixel white gap."""
    imgs = as_uint8_images(image)
    if len(imgs) == 1:
        return imgs[0]
    h, w = imgs.shape[1:3]
    gap = 2
    row = np.full((h, len(imgs) * (w + gap) - gap, 3), 255, np.uint8)
    for k, im in enumerate(imgs):
        row[:, k * (w + gap) : k * (w + gap) + w] = im
    return row


def png_bytes(image) -> bytes:
    """Encode one image as PNG.

    Args:
        image: uint8 ``(H, W, 3)`` in ``[0, 255]``, or a float tensor ``(3, H, W)`` / ``(N, 3, H, W)`` in
            ``[-1, 1]`` (several images are placed side by side).

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: for images in neither convention.
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_frame_image(image)).save(buf, format="PNG")
    return buf.getvalue()


def frames_html(
    frames: Sequence,
    labels: Sequence[str],
    *,
    title: str = "",
    name: str = "value",
    initial: int = 0,
    scale: float = 3.0,
    alt: str | None = None,
) -> str:
    """A self-contained HTML slider over pre-rendered frames (works in the static book, no kernel).

    Args:
        frames: K images, each uint8 ``(H, W, 3)`` or a float tensor ``(3, H, W)`` / ``(N, 3, H, W)`` in
            ``[-1, 1]`` (a row of images); all frames the same size.
        labels: K readouts shown beside the slider, e.g. ``"lambda = 0.50"``.
        title: heading above the image.
        name: what the slider moves, for the input's accessible label.
        initial: index of the frame shown first.
        scale: display magnification (pixels are drawn as blocks, not blurred).
        alt: what the frames show, for screen readers; default ``title``, else ``"Generated image"``.
            The image's ``alt`` is this with the current readout (``"<alt>, lambda = 0.50"``), kept in
            step with the slider (``data-alt`` holds the part before the readout).

    Returns:
        An HTML string: ``<div class="histogan-slider" ...>`` with one ``<img>`` (see the module docstring).

    Raises:
        ValueError: if there are no frames, labels and frames differ in number, frames differ in size,
            or ``initial`` is out of range.
    """
    if len(frames) == 0:
        raise ValueError("frames_html needs at least one frame")
    if len(labels) != len(frames):
        raise ValueError(f"got {len(labels)} labels for {len(frames)} frames; give one readout per frame")
    if not 0 <= initial < len(frames):
        raise ValueError(f"initial must be a frame index in [0, {len(frames)}), got {initial}")
    images = [_frame_image(f) for f in frames]
    if len({im.shape for im in images}) != 1:
        raise ValueError(f"all frames must have the same size, got {sorted({im.shape for im in images})}")
    h, w = images[0].shape[:2]
    uid = uuid.uuid4().hex[:12]
    labels = [str(s) for s in labels]
    uris = ["data:image/png;base64," + base64.b64encode(png_bytes(im)).decode("ascii") for im in images]
    alt = " ".join((alt or title or "Generated image").split())
    parts = [
        f'<div class="histogan-slider" id="histogan-slider-{uid}" data-n-frames="{len(images)}" '
        f'data-index="{initial}" data-labels="{html.escape(json.dumps(labels), quote=True)}" '
        f'data-frames="{html.escape(json.dumps(uris), quote=True)}" data-alt="{html.escape(alt, quote=True)}" '
        'style="display:inline-block;font-family:sans-serif;font-size:13px;margin:4px 0">'
    ]
    if title:
        parts.append(f'<div class="histogan-slider-title" style="font-weight:bold;margin-bottom:4px">{html.escape(title)}</div>')
    parts.append(
        f'<img class="histogan-slider-frame" src="{uris[initial]}" alt="{html.escape(alt + ", " + labels[initial], quote=True)}" '
        f'width="{round(w * scale)}" height="{round(h * scale)}" style="display:block;image-rendering:pixelated">'
    )
    parts.append(
        f'<div style="margin-top:4px"><input class="histogan-slider-input" type="range" min="0" '
        f'max="{len(images) - 1}" step="1" value="{initial}" aria-label="{html.escape(name)}" '
        f'style="width:{max(160, round(w * scale))}px;vertical-align:middle" oninput="{html.escape(_ONINPUT, quote=True)}"> '
        f'<span class="histogan-slider-value">{html.escape(labels[initial])}</span></div>'
    )
    parts.append("</div>")
    return "".join(parts)


class LatentSlider:
    """A slider that regenerates an image: static frames always, a live ipywidget when a front end runs.

    Displaying it in a notebook shows the static HTML slider (it also works in the HTML book) and, when
    ``live``, an ipywidgets ``FloatSlider`` that calls ``render`` at every move.

    Attributes:
        render: ``render(value) -> image`` (float tensor ``(3, H, W)`` / ``(N, 3, H, W)`` in ``[-1, 1]``).
        values: float ``(K,)``, the slider positions pre-rendered as frames.
        frames: uint8 ``(K, H, W', 3)``, the pre-rendered frames.
        html: the static slider's HTML (see :func:`frames_html`).
        widget: the ipywidgets UI, or ``None`` when headless (``live=False``).
    """

    def __init__(self, render, values, frames, html_text, widget):
        self.render = render
        self.values = values
        self.frames = frames
        self.html = html_text
        self.widget = widget

    def _repr_html_(self) -> str:
        return self.html

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        display(HTML(self.html))
        if self.widget is not None:
            display(self.widget)

    def update(self, value: float) -> bytes:
        """Regenerate the image for ``value`` and return its PNG (what the live widget shows)."""
        data = png_bytes(self.render(float(value)))
        if self.widget is not None:
            self.widget.children[1].value = data
        return data


def latent_slider(
    render: Callable[[float], torch.Tensor],
    values: Sequence[float],
    *,
    name: str = "value",
    fmt: str = "{name} = {value:.2f}",
    title: str = "",
    initial: int | None = None,
    live: bool | None = None,
    scale: float = 3.0,
) -> LatentSlider:
    """A slider over any one-parameter family of generated images.

    Args:
        render: function of the slider value returning the image(s) to show: a float tensor
            ``(3, H, W)`` or ``(N, 3, H, W)`` in ``[-1, 1]`` (a row) or uint8 ``(H, W, 3)``. Called once per
            frame now, and at every move of the live slider.
        values: increasing slider positions to pre-render for the static slider (K >= 2); the live
            slider spans ``[values[0], values[-1]]`` in steps of ``(values[-1] - values[0]) / 100``.
        name: the slider's name (e.g. ``"lambda"``).
        fmt: readout format with ``{name}`` and ``{value}``.
        title: heading above the image.
        initial: index in ``values`` shown first (default: the middle).
        live: build the ipywidgets slider; default ``not is_headless()``. Headless runs never build it.
        scale: display magnification of the frames.

    Returns:
        A :class:`LatentSlider` (display it as the last expression of a cell).

    Raises:
        ValueError: for fewer than two values or values that do not increase.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2 or not np.all(np.diff(values) > 0):
        raise ValueError(f"values must be at least two increasing numbers, got {values.tolist()}")
    if initial is None:
        initial = len(values) // 2
    frames = np.stack([_frame_image(render(float(v))) for v in values])
    labels = [fmt.format(name=name, value=v) for v in values]
    text = frames_html(list(frames), labels, title=title, name=name, initial=initial, scale=scale)
    if live is None:
        live = not is_headless()
    widget = _live_widget(render, values, name, frames[initial], initial, scale) if live else None
    return LatentSlider(render, values, frames, text, widget)


def _live_widget(render, values, name, first_frame, initial, scale):
    import ipywidgets as widgets

    h, w = first_frame.shape[:2]
    image = widgets.Image(value=png_bytes(first_frame), format="png", width=round(w * scale), height=round(h * scale))
    lo, hi = float(values[0]), float(values[-1])
    slider = widgets.FloatSlider(
        value=float(values[initial]), min=lo, max=hi, step=(hi - lo) / 100, description=name,
        continuous_update=True, readout_format=".2f",
    )

    def on_change(change):
        image.value = png_bytes(render(float(change["new"])))

    slider.observe(on_change, names="value")
    return widgets.VBox([slider, image])


def _frames_values(n_frames: int, lo: float, hi: float) -> np.ndarray:
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 2:
        raise ValueError(f"n_frames must be an integer >= 2, got {n_frames!r}")
    return np.linspace(lo, hi, n_frames)


def interpolation_slider(
    generator: nn.Module,
    z1: torch.Tensor,
    z2: torch.Tensor,
    labels=None,
    *,
    n_frames: int = 11,
    method: str = "linear",
    title: str = "Interpolation, eq. (5)",
    live: bool | None = None,
) -> LatentSlider:
    """Slide from G(z1) to G(z2): the slider is ``t = 1 - lambda`` of eq. (5) (0 shows z1, 1 shows z2).

    Args:
        generator: a Generator.
        z1, z2: float ``(latent_dim,)`` or ``(N, latent_dim)`` (N paths shown side by side).
        labels: cDCGAN only: int64 ``(N,)`` or one int, the class used along the path.
        n_frames: frames pre-rendered for the static slider (>= 2).
        method: ``"linear"`` (eq. 5) or ``"spherical"`` (see :func:`histogan_lite.latent.interpolate`).
        title: heading.
        live: see :func:`latent_slider`.

    Returns:
        A :class:`LatentSlider`.

    Raises:
        ValueError: as :func:`histogan_lite.latent.interpolate` and :func:`histogan_lite.latent.generate`.
    """
    a, b = (torch.as_tensor(v).float().reshape(-1, generator.latent_dim) for v in (z1, z2))
    if a.shape != b.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")

    def render(t: float) -> torch.Tensor:
        return latent.generate(generator, latent.interpolate_at(a, b, t, method), labels)  # eq. (5), lambda = 1 - t

    return latent_slider(render, _frames_values(n_frames, 0.0, 1.0), name="t", fmt="t = 1 - lambda = {value:.2f}",
                         title=title, initial=0, live=live)


def class_mix_slider(
    generator: nn.Module,
    z: torch.Tensor,
    *,
    from_class: int = 0,
    to_class: int = 1,
    n_frames: int = 11,
    title: str = "Class mix (cDCGAN)",
    live: bool | None = None,
) -> LatentSlider:
    """Slide the cDCGAN's class vector from one class to another with z fixed (paper 3.2.3, Fig. 12).

    The slider is the mix ``a``: the class vector is ``(1 - a) e_from + a e_to``; 0 and 1 are the two
    classes (class inversion), values between are soft mixes the network never saw in training.

    Args:
        generator: a cDCGAN Generator.
        z: float ``(latent_dim,)`` or ``(N, latent_dim)``.
        from_class, to_class: classes at the two ends (0 negative, 1 positive).
        n_frames, title, live: as :func:`interpolation_slider`.

    Returns:
        A :class:`LatentSlider`.

    Raises:
        ValueError: for a DCGAN, or classes outside ``[0, n_classes)``.
    """
    if not getattr(generator, "n_classes", 0):
        raise ValueError("class_mix_slider needs a cDCGAN generator (n_classes >= 2); this one is a DCGAN")
    e = latent.class_vectors([from_class, to_class], generator.n_classes)
    z = torch.as_tensor(z).float().reshape(-1, generator.latent_dim)

    def render(a: float) -> torch.Tensor:
        return latent.generate_with_class_vector(generator, z, (1.0 - a) * e[0] + a * e[1])

    return latent_slider(render, _frames_values(n_frames, 0.0, 1.0), name="class mix",
                         fmt=f"class mix = {{value:.2f}} (0: class {from_class}, 1: class {to_class})",
                         title=title, initial=0, live=live)


def attribute_slider(
    generator: nn.Module,
    z: torch.Tensor,
    vector: torch.Tensor,
    labels=None,
    *,
    strengths: tuple[float, float] = (-1.5, 1.5),
    n_frames: int = 13,
    title: str = "Attribute strength",
    live: bool | None = None,
) -> LatentSlider:
    """Slide the strength s of an attribute vector: G(z + s * vector) (paper 3.2.2).

    Args:
        generator: a Generator.
        z: float ``(latent_dim,)`` or ``(N, latent_dim)``.
        vector: float ``(latent_dim,)``, e.g. :func:`histogan_lite.latent.attribute_vector`.
        labels: cDCGAN only, the class(es).
        strengths: ``(lowest, highest)`` strength; 0 (the unedited image) should lie between.
        n_frames, title, live: as :func:`interpolation_slider`.

    Returns:
        A :class:`LatentSlider`, starting at the frame nearest strength 0.
    """
    values = _frames_values(n_frames, float(strengths[0]), float(strengths[1]))
    z = torch.as_tensor(z).float().reshape(-1, generator.latent_dim)

    def render(s: float) -> torch.Tensor:
        return latent.generate(generator, latent.apply_attribute(z, vector, s), labels)

    return latent_slider(render, values, name="strength", fmt="strength = {value:+.2f}", title=title,
                         initial=int(np.argmin(np.abs(values))), live=live)
