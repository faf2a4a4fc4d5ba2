"""The introduction's opening figure is drawn from the generator that ships (not from an older one)."""

import json
import re
from pathlib import Path
from conftest import load_data_script

ROOT = Path(__file__).resolve().parents[1]


def test_intro_figure_is_drawn_from_the_shipped_cdcgan():
    mod = load_data_script("make_intro_figure")
    record = json.loads((ROOT / "book" / "_static" / "intro_class_edit.json").read_text())
    assert record["checkpoint_sha256"] == mod.checkpoint_sha256(record["generator"]), (
        "book/_static/intro_class_edit.png was drawn from another checkpoint: run data_scripts/make_intro_figure.py")
    assert (ROOT / "book" / "_static" / "intro_class_edit.png").stat().st_size > 10_000


def test_intro_opens_with_the_figure_and_real_alt_text():
    text = (ROOT / "book" / "intro.md").read_text()
    m = re.search(r"```\{figure\} _static/intro_class_edit\.png\n(.*?)```", text, re.S)
    assert m, "intro.md must show _static/intro_class_edit.png in a {figure} directive"
    alt = re.search(r"^:alt: (.+)$", m.group(1), re.M)
    assert alt and len(alt.group(1)) > 60 and ".png" not in alt.group(1)
    assert text.index("intro_class_edit") < text.index("## Who this is for")
