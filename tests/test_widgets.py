"""Latent sliders: the static HTML slider over embedded frames, and the live ipywidgets one."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from histogan_lite import latent as L
from histogan_lite import widgets as W
from histogan_lite.models import Generator
from histogan_lite.utils import tensor_to_images


@pytest.fixture(scope="module")
def dcgan():
    torch.manual_seed(0)
    return Generator(64, 0, width=32).eval()


@pytest.fixture(scope="module")
def cdcgan():
    torch.manual_seed(1)
    return Generator(64, 2, width=32).eval()


def _attr(text: str, name: str):
    return json.loads(html.unescape(re.search(rf'{name}="([^"]*)"', text).group(1)))


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def _frames(text: str) -> list[np.ndarray]:
    return [_decode(u) for u in _attr(text, "data-frames")]


def _solid(value: int, w: int = 4) -> np.ndarray:
    return np.full((3, w, 3), value, np.uint8)


def test_frames_html_structure_and_pixels():
    frames = [_solid(0), _solid(100), _solid(255)]
    text = W.frames_html(frames, ["a", "b", "c <d>"], title="T", name="lambda", initial=1, scale=2)
    assert text.startswith('<div class="histogan-slider" id="histogan-slider-')
    assert 'data-n-frames="3"' in text and 'data-index="1"' in text
    assert _attr(text, "data-labels") == ["a", "b", "c <d>"]
    decoded = _frames(text)
    assert len(decoded) == 3 and all(np.array_equal(d, f) for d, f in zip(decoded, frames))  # PNG is lossless
    imgs = re.findall(r"<img [^>]*>", text)
    assert len(imgs) == 1, "one image whose src the slider swaps"
    src = re.search(r'<img class="histogan-slider-frame" src="([^"]+)"', text).group(1)
    assert np.array_equal(_decode(src), frames[1])  # the initial frame is shown
    assert 'width="8" height="6"' in imgs[0]  # scale 2 of a 4 x 3 frame
    assert re.search(r'<input class="histogan-slider-input" type="range" min="0" max="2" step="1" value="1"', text)
    assert '<span class="histogan-slider-value">b</span>' in text
    assert re.search(r'<img class="histogan-slider-frame" src="[^"]+" alt="T, b"', text)  # title + readout
    assert ' data-alt="T" ' in text
    untitled = W.frames_html(frames, ["a", "b", "c"], initial=2)
    assert re.search(r' alt="Generated image, c"', untitled)
    assert "<script" not in text and "http" not in text.replace("histogan", "")  # nothing external


def test_frames_html_bad_input():
    with pytest.raises(ValueError, match="at least one frame"):
        W.frames_html([], [])
    with pytest.raises(ValueError, match="2 labels for 3 frames"):
        W.frames_html([_solid(0)] * 3, ["a", "b"])
    with pytest.raises(ValueError, match="same size"):
        W.frames_html([_solid(0), _solid(0, w=5)], ["a", "b"])
    with pytest.raises(ValueError, match="initial"):
        W.frames_html([_solid(0)] * 2, ["a", "b"], initial=2)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_static_slider_script_shows_the_chosen_frame():
    """Run the inline oninput handler in node against a minimal stand-in for the DOM."""
    text = W.frames_html([_solid(0), _solid(1), _solid(2)], ["x0", "x1", "x2"])
    handler = html.unescape(re.search(r'oninput="([^"]*)"', text).group(1))
    labels = html.unescape(re.search(r'data-labels="([^"]*)"', text).group(1))
    frames = html.unescape(re.search(r'data-frames="([^"]*)"', text).group(1))
    script = f"""
    const img = {{src: 'initial', alt: 'initial'}};
    const value = {{textContent: 'x0'}};
    const attrs = {{'data-labels': {json.dumps(labels)}, 'data-frames': {json.dumps(frames)}, 'data-index': '0',
                   'data-alt': 'Generated image'}};
    const box = {{querySelector: sel => sel === '.histogan-slider-frame' ? img : value,
                 getAttribute: k => attrs[k], setAttribute: (k, v) => {{ attrs[k] = String(v); }}}};
    const input = {{value: '2', closest: () => box}};
    (function () {{ {handler} }}).call(input);
    console.log(JSON.stringify([img.src, attrs['data-index'], value.textContent, img.alt]));
    """
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    src, index, readout, alt = json.loads(out.stdout)
    assert np.array_equal(_decode(src), _solid(2)) and (index, readout) == ("2", "x2")
    assert alt == "Generated image, x2"  # the alt follows the frame


def test_headless_slider_builds_no_widget(dcgan, monkeypatch):
    monkeypatch.setenv("HISTOGAN_HEADLESS", "1")
    z1, z2 = L.sample_z(2, seed=3)
    s = W.interpolation_slider(dcgan, z1, z2, n_frames=4)
    assert s.widget is None
    assert s.frames.shape == (4, 64, 64, 3) and np.allclose(s.values, [0, 1 / 3, 2 / 3, 1])
    # first and last frames are G(z1) and G(z2)
    assert np.array_equal(s.frames[0], tensor_to_images(L.generate(dcgan, z1))[0])
    assert np.array_equal(s.frames[-1], tensor_to_images(L.generate(dcgan, z2))[0])
    assert s._repr_html_() == s.html and len(_attr(s.html, "data-frames")) == 4
    assert [np.array_equal(d, f) for d, f in zip(_frames(s.html), s.frames)] == [True] * 4


def test_live_slider_regenerates_on_move(dcgan):
    z = L.sample_z(1, seed=4)
    v = torch.zeros(100)
    v[:10] = 1.0
    s = W.attribute_slider(dcgan, z, v, strengths=(-1.0, 1.0), n_frames=5, live=True)
    assert s.values.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert np.array_equal(s.frames[2], tensor_to_images(L.generate(dcgan, z))[0])  # strength 0: unedited
    assert re.search(r'data-index="2"', s.html)
    slider, image = s.widget.children
    assert (slider.min, slider.max, slider.value) == (-1.0, 1.0, 0.0)
    slider.value = 1.0
    shown = np.asarray(Image.open(io.BytesIO(image.value)).convert("RGB"))
    assert np.array_equal(shown, s.frames[-1])
    data = s.update(-1.0)
    assert image.value == data and np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), s.frames[0])


def test_class_mix_slider_ends_are_the_two_classes(cdcgan, dcgan):
    z = L.sample_z(2, seed=5)
    s = W.class_mix_slider(cdcgan, z, n_frames=3, live=False)
    assert s.frames.shape == (3, 64, 2 * 64 + 2, 3)  # two images side by side with a 2-pixel gap
    want0 = tensor_to_images(L.generate(cdcgan, z, 0))
    want1 = tensor_to_images(L.invert_class(cdcgan, z, torch.tensor([0, 0])))
    assert np.abs(s.frames[0][:, :64].astype(int) - want0[0]).max() <= 1
    assert np.abs(s.frames[-1][:, 66:].astype(int) - want1[1]).max() <= 1
    with pytest.raises(ValueError, match="cDCGAN"):
        W.class_mix_slider(dcgan, z)


def test_latent_slider_bad_values(dcgan):
    with pytest.raises(ValueError, match="increasing"):
        W.latent_slider(lambda v: torch.zeros(3, 8, 8), [0.0, 0.0], live=False)
    with pytest.raises(ValueError, match="n_frames"):
        W.interpolation_slider(dcgan, torch.zeros(100), torch.zeros(100), n_frames=1, live=False)
