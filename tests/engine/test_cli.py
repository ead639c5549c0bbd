"""`vidmerge render` as a user runs it: a subprocess, JSON on stdout, problems on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.media import fingerprint, make_clip, write_bundle, zip_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    return write_bundle(work / "bundle", clip=make_clip(work / "clip.mp4"))


def _vidmerge(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDMERGE_DATA_DIR": str(tmp / "data")}
    return subprocess.run(
        [sys.executable, "-m", "vidmerge", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _data(tmp: Path, data: object) -> str:
    path = tmp / "d.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_render_prints_values_outputs_and_timings(bundle: Path, tmp_path: Path) -> None:
    done = _vidmerge(
        tmp_path, "render", str(bundle), "--data", _data(tmp_path, {"name": "田中"}), "--out", str(tmp_path / "out")
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["template"] == {"id": "small", "version": 1}
    assert summary["values"] == {"greeting": "田中様", "amount": "12,340円"}
    outputs = summary["outputs"]
    assert set(outputs) == {"mp4", "hls", "poster", "gif"}
    for path in outputs.values():
        assert Path(path).is_file() and Path(path).stat().st_size > 0
        assert Path(path).is_relative_to(tmp_path / "out")
    assert summary["segments"] == {"total": 3, "dynamic": 2, "rendered": 2}
    assert summary["fallback"] is False
    timings = summary["timings"]
    assert {"load", "prepare", "resolve", "segments", "mp4", "poster", "gif", "total"} <= set(timings)
    assert all(isinstance(v, float) and v >= 0 for v in timings.values())


def test_render_a_zipped_bundle_twice_renders_nothing_the_second_time(bundle: Path, tmp_path: Path) -> None:
    archive = zip_folder(bundle, tmp_path / "bundle.zip", prefix="small/")
    args = ["render", str(archive), "--data", _data(tmp_path, {"name": "Ann"}), "--out", str(tmp_path / "out")]
    first, second = _vidmerge(tmp_path, *args), _vidmerge(tmp_path, *args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout)["segments"]["rendered"] == 2
    assert json.loads(second.stdout)["segments"]["rendered"] == 0


def test_bad_data_exits_2_with_every_bad_field(bundle: Path, tmp_path: Path) -> None:
    data = _data(tmp_path, {"name": "x" * 41, "amount": "lots"})
    done = _vidmerge(tmp_path, "render", str(bundle), "--data", data, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stdout == ""
    problem = json.loads(done.stderr)
    assert problem["error"] == "DataError" and problem["retryable"] is False
    assert sorted(p["where"] for p in problem["problems"]) == ["data.amount", "data.name"]
    assert not (tmp_path / "out" / "video.mp4").exists()


def test_bad_bundle_exits_2_naming_the_field(bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (bundle / "template.yaml").read_text(encoding="utf-8").replace("{{ name | honorific }}", "{{ name | }}")
    (broken / "template.yaml").write_text(text, encoding="utf-8")
    (broken / "base.mp4").write_bytes((bundle / "base.mp4").read_bytes())
    done = _vidmerge(tmp_path, "render", str(broken), "--data", _data(tmp_path, {}), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    problem = json.loads(done.stderr)
    assert problem["error"] == "BundleError"
    assert [p["where"] for p in problem["problems"]] == ["template.yaml: slots[greeting].text"]


def test_glyph_error_names_the_character(bundle: Path, tmp_path: Path) -> None:
    data = _data(tmp_path, {"name": "田中😀"})
    done = _vidmerge(tmp_path, "render", str(bundle), "--data", data, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    problem = json.loads(done.stderr)
    assert problem["error"] == "GlyphError" and "U+1F600" in problem["detail"]
    assert problem["problems"][0]["where"] == "data.name" and "slots[greeting]" in problem["detail"]


def test_demo_writes_the_shipped_template_and_keeps_what_is_there(tmp_path: Path) -> None:
    """`vidmerge demo DIR` from the package data; a clip already in DIR is kept, not generated."""
    dest = tmp_path / "demo"
    clip = fingerprint(make_clip(dest / "base.mp4").read_bytes())
    (dest / "sample.json").write_text('{"name": "edited"}', encoding="utf-8")
    done = _vidmerge(tmp_path, "demo", str(dest))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(dest)
    assert (dest / "template.yaml").read_text(encoding="utf-8").count("electricity-savings") == 1
    assert sorted(p.name for p in (dest / "assets" / "icons").iterdir()) == [
        "family.png",
        "smart.png",
        "standard_b.png",
    ]
    assert json.loads((dest / "sample.json").read_text(encoding="utf-8")) == {"name": "edited"}
    assert fingerprint((dest / "base.mp4").read_bytes()) == clip
