"""Colab (issue 13.5): the repository address in one place, and the setup cells and launch buttons from it.

pyproject.toml's ``[project.urls] Repository`` is the one place; ``_config.yml`` (Jupyter Book's
repository / launch buttons), every chapter's setup cell and README's Colab links must agree with it,
and ``tools/colab_setup.py`` rewrites them when it changes. These tests parse each file on their own
(tomllib, PyYAML, nbformat) rather than trusting the tool.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
import tomllib
import types

import nbformat
import pytest
import yaml

from conftest import BOOK, CHAPTERS, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import colab_setup  # noqa: E402

ADDRESS = "https://github.com/histogan-lite/histogan-lite"


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _setup_source(stem: str) -> str:
    nb = nbformat.read(str(BOOK / f"{stem}.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    return code[0].source


def _pip_lines(source: str) -> list[str]:
    return [ln.strip() for ln in source.splitlines() if "pip install" in ln]


def test_pyproject_holds_the_address_and_config_and_every_setup_cell_agree():
    project = _pyproject()
    url = project["urls"]["Repository"]
    assert url == ADDRESS
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == url, "_config.yml repository.url (launch buttons) != pyproject"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    branch = config["repository"]["branch"]
    assert branch == "main"
    want = f'%pip install --quiet "{project["name"]}[colab] @ git+{url}@{branch}"'
    for stem in CHAPTERS:
        source = _setup_source(stem)
        assert '"google.colab" in sys.modules' in source, stem
        assert _pip_lines(source) == [want], f"{stem}: setup cell installs {_pip_lines(source)}"
        assert source == colab_setup.setup_cell_source(), f"{stem}: run tools/colab_setup.py"
    # no other address of a GitHub repository in the chapters
    for stem in CHAPTERS:
        text = (BOOK / f"{stem}.ipynb").read_text()
        others = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text)) - {url}
        assert not others, f"{stem} names another repository: {others}"
    assert colab_setup.problems() == []


def test_readme_colab_links_open_each_chapter_from_the_same_repository():
    url = _pyproject()["urls"]["Repository"]
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://colab\.research\.google\.com/github/\S+?\.ipynb", readme)
    assert links == [f"https://colab.research.google.com/github/histogan-lite/histogan-lite/blob/main/book/{s}.ipynb"
                     for s in CHAPTERS]
    assert all(link.startswith(colab_setup.colab_link(url, "main", "")) for link in links)
    for link in links:  # each link opens a committed chapter
        assert (ROOT / link.split("/blob/main/", 1)[1]).is_file()


def test_colab_extra_exists_and_with_the_core_covers_the_real_data_path():
    project = _pyproject()
    extras = project["optional-dependencies"]
    assert "colab" in extras, "the setup cells install histogan-lite[colab]"
    names = {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in project["dependencies"] + extras["colab"]}
    # slides (Chapter 1, extract_patches), PCam HDF5, TIFF readers, and Inception V3 for Chapter 6
    for needed in ("openslide-python", "openslide-bin", "h5py", "tifffile", "imagecodecs", "torchvision"):
        assert needed in names, f"the Colab install misses {needed}"
    assert "torchvision" not in {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0] for r in project["dependencies"]}, \
        "torchvision must stay optional (it does not import beside every torch build)"


def _run_setup_cell(source: str, colab: bool, monkeypatch) -> dict:
    """Run a setup cell; its %pip line becomes a call that records what it would install."""
    installs: list[str] = []
    code = re.sub(r"^(\s*)%pip (.*)$", lambda m: f"{m.group(1)}_pip({m.group(2)!r})", source, flags=re.M)
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    namespace = {"_pip": installs.append}
    exec(compile(code, "setup-cell", "exec"), namespace)
    return {"IN_COLAB": namespace["IN_COLAB"], "installs": installs}


@pytest.mark.parametrize("stem", CHAPTERS)
def test_setup_cell_installs_only_on_colab(stem, monkeypatch):
    source = _setup_source(stem)
    ast.parse(re.sub(r"^(\s*)%pip.*$", r"\1pass", source, flags=re.M))  # valid Python around the magic
    offline = _run_setup_cell(source, colab=False, monkeypatch=monkeypatch)
    assert offline == {"IN_COLAB": False, "installs": []}, "a local / offline run must not pip install anything"
    colab = _run_setup_cell(source, colab=True, monkeypatch=monkeypatch)
    assert colab["IN_COLAB"] is True
    assert colab["installs"] == [f'install --quiet "histogan-lite[colab] @ git+{ADDRESS}@main"']


def test_sync_tool_rewrites_every_place_from_pyproject(tmp_path):
    """Change the address in a scratch copy's pyproject: --check lists each place, sync fixes them all."""
    for name in ("pyproject.toml", "_config.yml", "README.md"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "book").mkdir()
    for stem in CHAPTERS:
        shutil.copy2(BOOK / f"{stem}.ipynb", tmp_path / "book" / f"{stem}.ipynb")
    assert colab_setup.main(["--root", str(tmp_path), "--check"]) == 0
    new = "https://github.com/a-fork/histogan-lite-fork"
    py = tmp_path / "pyproject.toml"
    py.write_text(py.read_text().replace(f'Repository = "{ADDRESS}"', f'Repository = "{new}"'))
    found = colab_setup.problems(tmp_path)
    assert len(found) == 1 + len(CHAPTERS) + 1, found  # _config.yml, each setup cell, the README link prefix
    assert colab_setup.main(["--root", str(tmp_path), "--check"]) == 1
    changed = colab_setup.sync(tmp_path)
    assert len(changed) == 2 + len(CHAPTERS)
    assert colab_setup.problems(tmp_path) == []
    config_text = (tmp_path / "_config.yml").read_text()
    assert yaml.safe_load(config_text)["repository"]["url"] == new
    assert "# Jupyter Book 1.0.x configuration" in config_text, "comments of _config.yml are kept"
    for stem in CHAPTERS:
        nb = nbformat.read(str(tmp_path / "book" / f"{stem}.ipynb"), as_version=4)
        assert f"git+{new}@main" in nb.cells[1].source
        original = nbformat.read(str(BOOK / f"{stem}.ipynb"), as_version=4)
        assert [c.source for c in nb.cells[2:]] == [c.source for c in original.cells[2:]], "only the setup cell changes"
    assert "colab.research.google.com/github/a-fork/histogan-lite-fork/blob/main/book/01_data.ipynb" in \
        (tmp_path / "README.md").read_text()
    assert colab_setup.sync(tmp_path) == [], "a second sync changes nothing"


def test_address_must_be_a_github_repository(tmp_path):
    for name in ("pyproject.toml", "_config.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    py = tmp_path / "pyproject.toml"
    py.write_text(py.read_text().replace(f'Repository = "{ADDRESS}"', 'Repository = "https://gitlab.com/x/y"'))
    with pytest.raises(ValueError, match=r"\[project.urls\] Repository must be https://github.com/OWNER/NAME"):
        colab_setup.repository(tmp_path)


def _guide_papermill_commands() -> list[list[str]]:
    """Each ``papermill book/...`` command of the instructor guide's bash blocks, as shell words."""
    import shlex

    text = (BOOK / "instructor_guide.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0].endswith("papermill") and words[1].startswith("book/"):
                commands.append(words)
    return commands


def test_instructor_guide_runs_a_chapter_on_pcam_with_real_parameter_names():
    from histogan_lite.datasets import IMAGE_SIZES

    commands = _guide_papermill_commands()
    pcam = [c for c in commands if any(c[i:i + 3] == ["-p", "data", "pcam"] for i in range(len(c)))]
    assert any(c[:3] == ["papermill", "book/03_dcgan.ipynb", "out.ipynb"] for c in pcam), "Chapter 3 on PCam"
    pending = []
    for words in commands:
        stem = words[1].removeprefix("book/").removesuffix(".ipynb")
        assert stem in CHAPTERS, words
        nb = nbformat.read(str(BOOK / f"{stem}.ipynb"), as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        names = {n.targets[0].id for n in ast.parse(params.source).body if isinstance(n, ast.Assign)}
        given = {words[i + 1]: words[i + 2] for i, w in enumerate(words) if w == "-p"}
        for name, value in given.items():
            if name in ("data", "image_size") and name not in names:
                pending.append(f"{stem}:{name}")
                continue
            assert name in names, f"the guide passes -p {name} to {stem}, whose parameters cell has {sorted(names)}"
        if "image_size" in given:
            assert int(given["image_size"]) in IMAGE_SIZES
        if "classifier" in given:
            assert given["classifier"] in ("cnn", "inception")
    text = (BOOK / "instructor_guide.md").read_text()
    for size in IMAGE_SIZES:
        assert f"`{size}`" in text
    for value in ('`"demo"`', '`"pcam"`', "`.csv`", "a folder path"):
        assert value in text
    if pending:
        pytest.xfail(f"parameters not yet in the chapters' parameters cells (issue 13.1): {pending}")
