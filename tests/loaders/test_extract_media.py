"""Media extractors: local metadata as a searchable text segment, media_kind set, corrupt files reported."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kagura.errors import ExtractionError
from kagura.loaders import FileType, extract_file


def reason_of(path: Path) -> str:
    with pytest.raises(ExtractionError) as info:
        extract_file(path)
    return info.value.reason


def test_jpeg_exif_camera_and_date(corpus: Path) -> None:
    result = extract_file(corpus / "media" / "cat-on-windowsill.jpg")
    assert (result.file_type, result.mime_type, result.media_kind) == (FileType.IMAGE, "image/jpeg", "image")
    meta = result.metadata
    assert (meta["format"], meta["width"], meta["height"], meta["mode"]) == ("JPEG", 240, 180, "RGB")
    assert meta["exif"]["camera_make"] == "FUJIFILM"
    assert meta["exif"]["camera_model"] == "X-T30"
    assert meta["exif"]["datetime_original"] == "2024:05:04 09:12:30"
    [segment] = result.segments
    assert segment.text.startswith("image cat-on-windowsill.jpg: JPEG, 240x180 pixels")
    assert "camera: FUJIFILM X-T30" in segment.text
    assert "taken: 2024:05:04 09:12:30" in segment.text
    assert segment.text.endswith("filename: cat on windowsill")  # findable offline by its name


def test_png_dimensions_and_text_chunks(corpus: Path) -> None:
    result = extract_file(corpus / "media" / "quarterly-sales-chart.png")
    assert (result.mime_type, result.media_kind) == ("image/png", "image")
    assert (result.metadata["width"], result.metadata["height"]) == (320, 200)
    assert result.metadata["exif"] == {}
    assert result.metadata["png_text"]["title"] == "Quarterly sales chart"
    assert "Bar chart of revenue" in result.segments[0].text


def test_wav_duration_and_format(corpus: Path) -> None:
    result = extract_file(corpus / "media" / "tuning-fork-a440.wav")
    assert (result.file_type, result.mime_type, result.media_kind) == (FileType.AUDIO, "audio/wav", "audio")
    meta = result.metadata
    assert (meta["duration"], meta["sample_rate"], meta["channels"]) == (1.5, 8000, 1)
    assert "duration 1.5 s" in result.segments[0].text
    assert "filename: tuning fork a440" in result.segments[0].text


def test_stdlib_wave_reader_agrees_with_mutagen(corpus: Path) -> None:
    from kagura.loaders._media import _wav_meta

    meta = _wav_meta(corpus / "media" / "tuning-fork-a440.wav")
    assert (meta["duration"], meta["sample_rate"], meta["bits_per_sample"]) == (1.5, 8000, 16)


def _mp4(duration_ms: int) -> bytes:
    def atom(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = atom(
        b"mvhd",
        bytes(4) + struct.pack(">IIII", 0, 0, 1000, duration_ms) + struct.pack(">IH", 0x10000, 0x100)
        + bytes(10) + matrix + bytes(24) + struct.pack(">I", 2),
    )  # fmt: skip
    return atom(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + atom(b"moov", mvhd) + atom(b"mdat", b"")


def test_mp4_duration_and_tags(tmp_path: Path) -> None:
    import mutagen.mp4

    path = tmp_path / "rocket-launch.mp4"
    path.write_bytes(_mp4(4500))
    tagged = mutagen.mp4.MP4(path)
    tagged["\xa9nam"] = ["Falcon liftoff"]
    tagged.save()
    result = extract_file(path)
    assert (result.file_type, result.mime_type, result.media_kind) == (FileType.VIDEO, "video/mp4", "video")
    assert result.metadata["duration"] == 4.5
    assert result.metadata["tags"] == {"title": "Falcon liftoff"}
    assert "duration 4.5 s" in result.segments[0].text
    assert "title: Falcon liftoff" in result.segments[0].text


def test_other_video_containers_are_indexed_by_name(tmp_path: Path) -> None:
    path = tmp_path / "birthday-party.webm"
    path.write_bytes(b"\x1aE\xdf\xa3" + bytes(60))
    result = extract_file(path)
    assert (result.media_kind, result.metadata["duration"]) == ("video", None)
    assert "filename: birthday party" in result.segments[0].text


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"x" * 40, "corrupt or truncated image"),
        ("photo.jpg", b"this is text, not a photo", "not a readable image"),
        ("broken.wav", b"RIFF\x00\x00\x00\x00WAVEgarbage", "not a valid WAV file"),
        ("song.mp3", b"this is text, not audio", "corrupt or unsupported media file"),
        ("broken.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(20), "corrupt or unsupported media file"),
    ],
)
def test_corrupt_media_raise_with_a_reason(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(data)
    assert reason_of(tmp_path / name).startswith(expected)


def test_mp3_duration_and_id3_tags(tmp_path: Path) -> None:
    import mutagen.mp3

    path = tmp_path / "dawn-chorus.mp3"
    frame = b"\xff\xfb\x90\x00" + bytes(413)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames
    path.write_bytes(frame * 40)
    tagged = mutagen.mp3.EasyMP3(path)
    tagged["title"] = "Morning birdsong"
    tagged["artist"] = "Field Recordist"
    tagged.save()
    result = extract_file(path)
    assert (result.file_type, result.mime_type, result.media_kind) == (FileType.AUDIO, "audio/mpeg", "audio")
    assert result.metadata["duration"] == pytest.approx(40 * 1152 / 44100, abs=0.01)
    assert result.metadata["tags"] == {"title": "Morning birdsong", "artist": "Field Recordist"}
    text = result.segments[0].text
    assert "title: Morning birdsong" in text and "artist: Field Recordist" in text
    assert text.endswith("filename: dawn chorus")
