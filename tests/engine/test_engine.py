"""End to end on real renders with real ffmpeg.

Small tests use a generated 6 s 320×180 clip (three 2 s segments: 0 static, 1 the greeting,
2 the amount). The "two customers" tests render the 30 s demo template once per session.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from support.media import (
    SMALL_MANIFEST,
    audio_payload,
    box_of,
    decoded_frames,
    fingerprint,
    frames_at,
    make_clip,
    psnr,
    stream_seconds,
    strip_adts,
    text_psnr,
    video_pts,
    write_bundle,
)
from support.server import DEMO

from vidmerge.bench.demo import DEMO_TEMPLATE, write_demo
from vidmerge.config import Settings
from vidmerge.draw.layers import segment_layer
from vidmerge.engine import ffmpeg, package
from vidmerge.engine.argv import LEAD_FRAMES
from vidmerge.engine.encode import encode_segment
from vidmerge.engine.ffmpeg import Limits
from vidmerge.engine.frames import FrameCache
from vidmerge.engine.loaded import LoadedVersion
from vidmerge.engine.pipeline import encode_dynamic, in_rendition, package_outputs, personalize
from vidmerge.engine.prepare import prepare
from vidmerge.engine.runner import render_to_folder
from vidmerge.errors import DataError, GlyphError
from vidmerge.plan import Prepared
from vidmerge.storage import LocalStorage, open_storage
from vidmerge.template.bundle import Template, load_bundle

FPS = 30

pytestmark = pytest.mark.slow


# --- the small template -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_job(tmp_path_factory: pytest.TempPathFactory) -> LoadedVersion:
    work = tmp_path_factory.mktemp("small")
    clip = make_clip(work / "clip.mp4")
    template = load_bundle(write_bundle(work / "bundle", clip=clip))
    storage = LocalStorage(work / "objects")
    return LoadedVersion(template, prepare(template, storage), storage)


def _shared(loaded: LoadedVersion, index: int) -> Path:
    path = loaded.storage.local_path(loaded.prepared.segments[index].key)
    assert path is not None
    return path


def test_prepare_cuts_the_clip_on_the_grid(small_job: LoadedVersion) -> None:
    p = small_job.prepared
    assert (p.width, p.height, p.fps, p.gop) == (320, 180, FPS, 60)
    assert [s.frames for s in p.segments] == [60, 60, 60]
    assert p.frames == 180 and p.duration == 6.0
    for seg in p.segments:
        path = _shared(small_job, seg.index)
        assert decoded_frames(path) == 60
        pts = video_pts(path)
        assert pts[0] == seg.pts0
        # on the frame grid, LEAD_FRAMES after zero: not the MPEG-TS muxer's ~1.4 s delay, nor
        # shifted between frames by the AAC priming
        assert seg.pts0 == seg.index * 180_000 + LEAD_FRAMES * 3000


def test_prepare_is_idempotent(small_job: LoadedVersion) -> None:
    assert prepare(small_job.template, small_job.storage) == small_job.prepared


def test_a_render_splices_without_timestamp_jumps(small_job: LoadedVersion, tmp_path: Path) -> None:
    """Dynamic segments must keep the mezzanine's timestamps exactly: every frame 1/30 s apart."""
    person = personalize(small_job, {"name": "山田"})
    encode_dynamic(small_job, person.plan)
    for seg in person.plan.dynamic:
        rendered = small_job.storage.local_path(seg.key)
        assert rendered is not None
        assert video_pts(rendered) == video_pts(_shared(small_job, seg.index)), f"segment {seg.index}"
    out = package_outputs(small_job, person, tmp_path)
    assert not out.fallback
    steps = set(np.diff(video_pts(out.mp4)).tolist())
    assert steps == {3000}, f"pts steps {steps} (90 kHz ticks)"


def test_small_render_outputs(small_job: LoadedVersion, tmp_path: Path) -> None:
    person = personalize(small_job, {"name": "山田", "amount": 5000})
    assert {k: d.text for k, d in person.drawn.items()} == {"greeting": "山田様", "amount": "5,000円"}
    assert [s.dynamic for s in person.plan.segments] == [False, True, True]
    encode_dynamic(small_job, person.plan)
    out = package_outputs(small_job, person, tmp_path)
    assert not out.fallback
    assert len(video_pts(out.mp4)) == 180
    seconds = stream_seconds(out.mp4)
    assert seconds["video"] == pytest.approx(6.0, abs=1 / FPS)
    assert seconds["audio"] == pytest.approx(seconds["video"], abs=0.05)
    base = frames_at(_shared(small_job, 1), [1.0])[1.0]
    frame = frames_at(out.mp4, [3.0])[3.0]
    assert text_psnr(frame, base, small_job.template, "greeting", "山田様") > 30
    # [4.0, 4.5) is inside a dynamic segment but before the amount shows: re-encoded, unchanged
    mezz = frames_at(_shared(small_job, 2), [0.0, 0.2])
    got = frames_at(out.mp4, [4.0, 4.2])
    assert psnr(got[4.0], mezz[0.0]) > 35 and psnr(got[4.2], mezz[0.2]) > 35


def test_play_overlay_draws_a_button_over_the_poster_and_the_gif(small_job: LoadedVersion, tmp_path: Path) -> None:
    """`output.play_overlay`: a white ▶ in the middle of the poster and of every GIF frame; the
    rest of the picture as without it."""
    manifest = copy.deepcopy(SMALL_MANIFEST)
    manifest["output"] = {**manifest["output"], "play_overlay": True}
    played = LoadedVersion(load_bundle(write_bundle(tmp_path / "bundle", manifest, clip=small_job.template.base)),
                           small_job.prepared, small_job.storage)  # fmt: skip
    person = personalize(small_job, {"name": "山田"})
    encode_dynamic(small_job, person.plan)
    plain = package_outputs(small_job, person, tmp_path / "plain")
    marked = package_outputs(played, personalize(played, {"name": "山田"}), tmp_path / "marked")
    for name in ("poster", "gif"):
        with_button, without = (np.asarray(Image.open(getattr(o, name)).convert("RGB"), dtype=float)
                                for o in (marked, plain))  # fmt: skip
        h, w, _ = without.shape
        r = min(w, h) // 8  # the button's radius: a quarter of the short side across
        triangle, disc = (slice(h // 2 - 1, h // 2 + 2), slice(w // 2 - 1, w // 2 + 2)), (h // 2, w // 2 - r // 2)
        assert with_button[triangle].mean() > 225, name  # white
        assert with_button[disc].mean() < without[disc].mean() - 40, name  # the translucent dark disc
        corner = (slice(0, h // 4), slice(0, w // 4))  # far from the button
        assert psnr(with_button[corner], without[corner]) > 30, name
    assert not list((tmp_path / "marked").glob("*.png"))  # the button's file is gone


# --- hostile text -------------------------------------------------------------------------------

HOSTILE = [
    'O\'Brien "Bob"',
    "a:b:c",
    "back\\slash \\N \\\\",
    "%{pts} %{eif:n:d}",
    "{{ 7*7 }}",
    "{% raw %}x{% endraw %}",
    "a,b;c",
    "[x](y) <b>{z}</b>",
    "text='x':fontfile=/etc/passwd",
    "$(rm -rf /); `id`",
    "𠮷野 髙橋",
    "草彅 剛",
    "a" * 40,
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_text_is_drawn_exactly_as_typed(small_job: LoadedVersion, name: str) -> None:
    person = personalize(small_job, {"name": name})
    assert person.drawn["greeting"].text == f"{name}様"
    seg = person.plan.segments[1]
    encode_segment(small_job, seg)
    rendered = small_job.storage.local_path(seg.key)
    assert rendered is not None
    assert decoded_frames(rendered) == 60
    base = frames_at(_shared(small_job, 1), [1.0])[1.0]
    frame = frames_at(rendered, [1.0])[1.0]
    box_diff = np.abs(
        box_of(frame, small_job.template, "greeting").astype(int)
        - box_of(base, small_job.template, "greeting").astype(int)
    )
    assert box_diff.mean() > 5, "nothing drawn in the box"
    assert text_psnr(frame, base, small_job.template, "greeting", f"{name}様") > 30


def test_hostile_texts_draw_differently(small_job: LoadedVersion) -> None:
    """The PSNR check above can tell texts apart: another text scores far lower."""
    person = personalize(small_job, {"name": "a:b:c"})
    encode_segment(small_job, person.plan.segments[1])
    rendered = small_job.storage.local_path(person.plan.segments[1].key)
    assert rendered is not None
    base = frames_at(_shared(small_job, 1), [1.0])[1.0]
    frame = frames_at(rendered, [1.0])[1.0]
    assert text_psnr(frame, base, small_job.template, "greeting", "a:b:c様") > 30
    assert text_psnr(frame, base, small_job.template, "greeting", "a;b;c様") < 25


def test_a_name_longer_than_max_length_is_rejected_naming_the_field(small_job: LoadedVersion) -> None:
    with pytest.raises(DataError) as info:
        personalize(small_job, {"name": "a" * 41})
    assert [p.where for p in info.value.problems] == ["data.name"]
    assert "longer than 40" in info.value.problems[0].reason


def test_every_bad_field_is_listed(small_job: LoadedVersion) -> None:
    with pytest.raises(DataError) as info:
        personalize(small_job, {"name": "a" * 500, "amount": "many"})
    assert sorted(p.where for p in info.value.problems) == ["data.amount", "data.name"]


@pytest.mark.parametrize(("name", "char"), [("田中😀", "U+1F600"), ("👨‍👩‍👧", "U+1F468")])
def test_emoji_without_a_glyph_is_rejected_naming_character_and_slot(
    small_job: LoadedVersion, name: str, char: str
) -> None:
    with pytest.raises(GlyphError) as info:
        personalize(small_job, {"name": name})
    assert info.value.where == "data.name"  # the input field; the slot is in the message
    assert char in info.value.message and "slots[greeting]" in info.value.message


def test_missing_name_takes_the_default(small_job: LoadedVersion) -> None:
    for data in ({}, {"name": None}, {"name": "   "}):
        assert personalize(small_job, data).drawn["greeting"].text == "お客様"


# --- the ladder, for a clip of any aspect ---------------------------------------------------------

# name: (the clip's coded size, its display rotation, the rungs of every rendition the lowest first)
SHAPES: dict[str, tuple[tuple[int, int], str | None, list[tuple[int, int]]]] = {
    "9:16": ((360, 640), None, [(180, 320), (234, 416), (360, 640)]),
    "9:16 rotated, as a phone writes it": ((640, 360), "90", [(180, 320), (234, 416), (360, 640)]),
    "4:5": ((320, 400), None, [(180, 224), (234, 292), (320, 400)]),
    "1:1": ((320, 320), None, [(180, 180), (234, 234), (320, 320)]),
}


def _sample_aspect(storage: LocalStorage, key: str) -> Fraction | None:
    path = storage.local_path(key)
    assert path is not None
    with av.open(str(path)) as container:
        return container.streams.video[0].sample_aspect_ratio


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_rung_of_a_clip_of_any_aspect_makes_personalized_segments(tmp_path: Path, shape: str) -> None:
    """Each rung is its short side (a 9:16 clip's 180p is 180×320) with square pixels, and a
    personalized segment of each, made from decoded base frames as the service makes it, splices:
    it verifies (encode_segment raises otherwise) and has its shared segment's aspect, 1:1."""
    (width, height), rotation, rungs = SHAPES[shape]
    clip = make_clip(tmp_path / "made.mp4", width=width, height=height, seconds=4)
    if rotation is not None:  # the display matrix a phone writes: prepare turns the picture upright
        clip, made = tmp_path / "rotated.mp4", clip
        ffmpeg.run(["-display_rotation", rotation, "-i", str(made), "-c", "copy", str(clip)])
    manifest = copy.deepcopy(SMALL_MANIFEST)
    manifest["output"]["ladder"] = [180, 234]
    manifest["slots"] = manifest["slots"][:1]  # the greeting, [2, 4): segment 1
    template = load_bundle(write_bundle(tmp_path / "bundle", manifest, clip=clip))
    storage = LocalStorage(tmp_path / "objects")
    loaded = LoadedVersion(template, prepare(template, storage), storage, frames=FrameCache(tmp_path / "frames"))
    assert [(p.width, p.height) for p in loaded.prepared.ladder] == rungs
    assert [p.name for p in loaded.prepared.ladder] == [f"{min(size)}p" for size in rungs]
    plan = personalize(loaded, {"name": "縦長"}).plan
    for rung in loaded.prepared.ladder:
        version, rendition = in_rendition(loaded, plan, rung)
        [seg] = rendition.dynamic
        assert encode_segment(version, seg), rung.name
        shared = _sample_aspect(storage, rung.segments[seg.index].key)
        assert (_sample_aspect(storage, seg.key), shared) == (1, 1), rung.name


# --- the demo template, two customers -------------------------------------------------------

TANAKA = json.loads((DEMO_TEMPLATE / "sample.json").read_text(encoding="utf-8"))
SATO = {"name": "佐藤 花子", "monthly_kwh": 250, "amperage": 30, "current_plan": "family", "deadline": "2026-11-30"}
SUZUKI = {**TANAKA, "name": "鈴木 一郎"}  # same plan and numbers as TANAKA, another name

STATIC_TIMES = [1.0, 8.0, 20.0, 29.0]  # no slot visible
SLOT_TIMES = [3.0, 4.0, 5.0, 15.0, 26.0]  # greeting (3.0, 5.0: a layer picture held), savings, plan
POSTER_TIMES = [3.9667, 4.0333]  # the frames either side of the poster's
FRAME_TIMES = STATIC_TIMES + SLOT_TIMES + POSTER_TIMES


class Demo:
    def __init__(self, root: Path) -> None:
        write_demo(DEMO)
        self.settings = Settings(data_dir=root / "data")
        self.root = root
        self.summaries: dict[str, dict[str, Any]] = {}
        self._frames: dict[str, dict[float, np.ndarray]] = {}

    def render(self, who: str, data: dict[str, Any]) -> dict[str, Any]:
        out = self.root / who
        summary = render_to_folder(DEMO, data, out, self.settings, self.root / "scratch", parallel=2)
        self.summaries[who] = summary
        return summary

    def out(self, who: str) -> Path:
        return self.root / who

    def frames(self, who: str) -> dict[float, np.ndarray]:
        """Decoded frames of a customer's MP4 at every time the tests look at (decoded once)."""
        if who not in self._frames:
            self._frames[who] = frames_at(self.out(who) / "video.mp4", FRAME_TIMES)
        return self._frames[who]

    @functools.cached_property
    def template(self) -> Template:
        return load_bundle(DEMO)

    @functools.cached_property
    def prepared(self) -> Prepared:
        return prepare(self.template, open_storage(self.settings))

    def shared(self, index: int) -> Path:
        path = open_storage(self.settings).local_path(self.prepared.segments[index].key)
        assert path is not None
        return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = Demo(tmp_path_factory.mktemp("demo"))
    d.render("tanaka", TANAKA)
    d.render("sato", SATO)
    d.render("tanaka_again", TANAKA)
    d.render("suzuki", SUZUKI)
    yield d


def test_demo_values(demo: Demo) -> None:
    a, b = demo.summaries["tanaka"]["values"], demo.summaries["sato"]["values"]
    assert a["greeting"] == "田中 太郎様、こんにちは"
    assert b["greeting"] == "佐藤 花子様、こんにちは"
    assert a["deadline"] == "2026年12月25日（金）までのお申し込みで"
    assert re.fullmatch(r"[\d,]+円", a["savings"])
    assert a["plan_icon"].startswith("assets/icons/")


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_frame_count_duration_and_audio(demo: Demo, who: str) -> None:
    mp4 = demo.out(who) / "video.mp4"
    assert not demo.summaries[who]["fallback"]
    assert len(video_pts(mp4)) == 900
    assert decoded_frames(mp4) == 900
    seconds = stream_seconds(mp4)
    assert seconds["video"] == pytest.approx(30.0, abs=1 / FPS)
    assert seconds["audio"] == pytest.approx(seconds["video"], abs=0.05)


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_audio_is_the_mezzanine_audio_byte_for_byte(demo: Demo, who: str) -> None:
    shared = [demo.shared(i) for i in range(len(demo.prepared.segments))]
    mezzanine = strip_adts(audio_payload(shared))
    assert len(mezzanine) > 100_000
    assert audio_payload([demo.out(who) / "video.mp4"]) == mezzanine
    hls = sorted((demo.out(who) / "hls").glob("seg_*.ts"))
    assert strip_adts(audio_payload(hls)) == mezzanine


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_video_timestamps_have_a_constant_step(demo: Demo, who: str) -> None:
    steps = set(np.diff(video_pts(demo.out(who) / "video.mp4")).tolist())
    assert steps == {3000}, f"pts steps {steps} (90 kHz ticks)"


def test_frames_are_identical_where_no_slot_is_visible(demo: Demo) -> None:
    a, b = demo.frames("tanaka"), demo.frames("sato")
    for t in STATIC_TIMES:
        assert np.array_equal(a[t], b[t]), f"t={t}"
        index, offset = divmod(t, 2.0)
        mezz = frames_at(demo.shared(int(index)), [offset])[offset]
        assert np.array_equal(a[t], mezz), f"t={t} differs from the mezzanine"


def test_static_segments_are_the_shared_ones(demo: Demo) -> None:
    plan_dynamic = {1, 2, 6, 7, 8, 12, 13}
    assert demo.summaries["tanaka"]["segments"] == {"total": 15, "dynamic": 7, "rendered": 7}
    for who in ("tanaka", "sato"):
        for i in range(15):
            copy = fingerprint((demo.out(who) / "hls" / f"seg_{i:05d}.ts").read_bytes())
            same = copy == fingerprint(demo.shared(i).read_bytes())
            assert same is (i not in plan_dynamic), f"{who} segment {i}"


def test_frames_differ_inside_slot_windows(demo: Demo) -> None:
    a, b = demo.frames("tanaka"), demo.frames("sato")
    for t in SLOT_TIMES:
        assert not np.array_equal(a[t], b[t]), f"t={t}"


def _mezzanine_at(demo: Demo, t: float) -> np.ndarray:
    index, offset = divmod(t, 2.0)
    return frames_at(demo.shared(int(index)), [offset])[offset]


@pytest.mark.parametrize(("slot_id", "t"), [("greeting", 3.0), ("greeting", 4.0), ("greeting", 5.0),
                                            ("savings", 15.0), ("savings_label", 15.0),
                                            ("plan_name", 26.0), ("deadline", 26.0)])  # fmt: skip
def test_each_customer_sees_their_own_text(demo: Demo, slot_id: str, t: float) -> None:
    template = demo.template
    base = _mezzanine_at(demo, t)
    own: dict[str, float] = {}
    other: dict[str, float] = {}
    for who, them in (("tanaka", "sato"), ("sato", "tanaka")):
        frame = demo.frames(who)[t]
        mine, theirs = demo.summaries[who]["values"][slot_id], demo.summaries[them]["values"][slot_id]
        own[who] = text_psnr(frame, base, template, slot_id, mine)
        if mine != theirs:
            other[who] = text_psnr(frame, base, template, slot_id, theirs)
    assert min(own.values()) > 30, own
    for who, value in other.items():
        assert value < own[who] - 10, (own, other)


def test_a_layer_sends_only_the_pictures_that_change(demo: Demo) -> None:
    """The greeting fades in over 0.4 s in segment 1 and out over the last 0.4 s of segment 2;
    the pictures in between are held by the overlay filter, not sent again."""
    loaded = LoadedVersion(demo.template, demo.prepared, open_storage(demo.settings))
    dynamic = {s.index: s for s in personalize(loaded, TANAKA).plan.dynamic}
    fading_in = segment_layer(demo.template, dynamic[1], demo.prepared.fps)
    fading_out = segment_layer(demo.template, dynamic[2], demo.prepared.fps)
    assert fading_in.shown_from == tuple(range(13))
    assert fading_in.pts_expr(66) == "N+66"
    assert fading_out.shown_from == (0, *range(49, 60))
    assert fading_out.pts_expr(126) == "N+126+48*gte(N\\,1)"
    assert len(list(fading_out.pictures)) == 12


def test_plan_icon_is_drawn(demo: Demo) -> None:
    template = demo.template
    frame = demo.frames("tanaka")[26.0]
    base = _mezzanine_at(demo, 26.0)
    diff = np.abs(box_of(frame, template, "plan_icon").astype(int) - box_of(base, template, "plan_icon").astype(int))
    assert diff.mean() > 10


def test_repeated_render_renders_nothing(demo: Demo) -> None:
    again = demo.summaries["tanaka_again"]
    assert again["segments"]["rendered"] == 0
    assert again["values"] == demo.summaries["tanaka"]["values"]
    a = (demo.out("tanaka") / "hls" / "index.m3u8").read_text()
    assert (demo.out("tanaka_again") / "hls" / "index.m3u8").read_text() == a
    for i in (1, 2, 6, 7, 8, 12, 13):
        name = f"seg_{i:05d}.ts"
        again, first = (fingerprint((demo.out(who) / "hls" / name).read_bytes()) for who in ("tanaka_again", "tanaka"))
        assert again == first, name


def test_another_name_re_renders_only_the_greeting(demo: Demo) -> None:
    s = demo.summaries["suzuki"]
    assert s["segments"]["rendered"] == 2  # segments 1 and 2: [2, 6) shows the greeting
    assert s["values"] == {**demo.summaries["tanaka"]["values"], "greeting": "鈴木 一郎様、こんにちは"}


def test_plan_keys_follow_the_values(demo: Demo) -> None:
    storage = open_storage(demo.settings)
    loaded = LoadedVersion(demo.template, demo.prepared, storage)
    tanaka, suzuki = personalize(loaded, TANAKA).plan, personalize(loaded, SUZUKI).plan
    changed = [a.index for a, b in zip(tanaka.segments, suzuki.segments, strict=True) if a.key != b.key]
    assert changed == [1, 2]
    assert encode_dynamic(loaded, tanaka) == 0


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_hls_playlist(demo: Demo, who: str) -> None:
    index = demo.out(who) / "hls" / "index.m3u8"
    assert demo.summaries[who]["outputs"]["hls"] == str(index)
    text = index.read_text()
    assert text.startswith("#EXTM3U\n") and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-DISCONTINUITY" not in text  # hls.js would insert a silence gap
    durations = [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", text)]
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(durations) == len(uris) == 15
    assert sum(durations) == pytest.approx(30.0, abs=1e-6)
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))  # type: ignore[union-attr]
    assert target >= max(durations)
    for uri in uris:
        assert decoded_frames(index.parent / uri) == 60, uri


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_hls_segments_keep_continuous_timestamps(demo: Demo, who: str) -> None:
    """Each segment starts where the previous one ended (no restart near zero)."""
    starts = [video_pts(demo.out(who) / "hls" / f"seg_{i:05d}.ts")[0] for i in range(15)]
    assert set(np.diff(starts).tolist()) == {180_000}, starts


def test_poster_shows_the_personalized_frame(demo: Demo) -> None:
    template = demo.template
    posters = {}
    for who in ("tanaka", "sato"):
        path = demo.out(who) / "poster.jpg"
        assert demo.summaries[who]["outputs"]["poster"] == str(path)
        with Image.open(path) as im:
            assert im.format == "JPEG" and im.size == (1280, 720)
            posters[who] = np.asarray(im.convert("RGB"))
        # the middle of the first slot's window: the greeting at 4.0 s (noisy footage + JPEG
        # keep the PSNR modest; the neighbouring frames must match clearly worse)
        frames = demo.frames(who)
        at = psnr(posters[who], frames[4.0])
        assert at > 25 and at > max(psnr(posters[who], frames[t]) for t in POSTER_TIMES) + 1
    base = _mezzanine_at(demo, 4.0)
    mine = text_psnr(posters["tanaka"], base, template, "greeting", "田中 太郎様、こんにちは")
    theirs = text_psnr(posters["tanaka"], base, template, "greeting", "佐藤 花子様、こんにちは")
    assert mine > 28 and theirs < mine - 10


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_gif_has_several_frames(demo: Demo, who: str) -> None:
    path = demo.out(who) / "email.gif"
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames >= 20  # 3 s at 10 fps
        assert im.size[0] == 400


@pytest.mark.parametrize("who", ["tanaka", "sato"])
def test_gif_is_under_one_megabyte(demo: Demo, who: str) -> None:
    size = (demo.out(who) / "email.gif").stat().st_size
    assert size < 1_000_000, f"the email GIF is {size} bytes"


def test_a_gif_starts_at_the_try_its_clip_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """800 px, 15 fps, 6 s of a grainy clip fits no try: all three are made once; told to
    start at the last (what the clip needed before), one is."""
    clip = make_clip(tmp_path / "clip.mp4", seconds=8)
    made: list[str] = []
    run = package.ffmpeg.run
    monkeypatch.setattr(package.ffmpeg, "run", lambda *a, **k: made.append(k["what"]) or run(*a, **k))
    size, used = package.gif(clip, 0, 180, 800, 15, tmp_path / "a.gif", Limits())
    assert size > package.GIF_BUDGET and (used, made) == (2, ["gif"] * 3)
    made.clear()
    assert package.gif(clip, 0, 180, 800, 15, tmp_path / "b.gif", Limits(), start=used)[1] == 2 and made == ["gif"]


def test_a_splice_that_fails_verification_ships_a_full_render_instead(small_job: LoadedVersion, tmp_path: Path) -> None:
    """A broken dynamic segment in storage (here: cut in half) must never ship; the one-pass
    full render replaces the spliced MP4, verified, with the overlays drawn."""
    person = personalize(small_job, {"name": "壊れた 接合"})
    encode_dynamic(small_job, person.plan)
    broken = person.plan.dynamic[0]
    path = small_job.storage.local_path(broken.key)
    assert path is not None
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 188 // 2 * 188])  # whole TS packets, half the frames

    out = package_outputs(small_job, person, tmp_path)

    assert out.fallback
    assert len(video_pts(out.mp4)) == 180
    assert set(np.diff(video_pts(out.mp4)).tolist()) == {512}  # mp4 time base: one frame apart
    base, shipped = frames_at(_shared(small_job, broken.index), [0.5]), frames_at(out.mp4, [broken.start + 0.5])
    inside = box_of(next(iter(shipped.values())), small_job.template, "greeting")
    assert np.abs(inside.astype(int) - box_of(next(iter(base.values())), small_job.template, "greeting")).mean() > 5
