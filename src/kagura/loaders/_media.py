"""Extractors for media files: local metadata only (the RAG adds an LLM description when configured).

Each returns one text segment describing the file, starting with its kind and name and ending with the
words of its filename, so an offline search for "cat photo" finds ``cat.jpg``:
``image cat.jpg: JPEG, 640x480 pixels, RGB; camera: Canon EOS R5; taken: 2024:05:01 10:00:00. filename: cat``.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import Any

from kagura.errors import ExtractionError
from kagura.loaders._detect import guess_mime_type
from kagura.loaders._optional import missing_library
from kagura.loaders._safe import display_name, open_regular
from kagura.loaders._types import Extracted, FileType, Segment

__all__ = ["filename_words"]

_EXIF_BASE = {270: "description", 271: "camera_make", 272: "camera_model", 305: "software", 306: "datetime",
              315: "artist", 33432: "copyright"}  # fmt: skip
_EXIF_IFD = {36867: "datetime_original", 42036: "lens", 37386: "focal_length", 33437: "f_number",
             33434: "exposure_time", 34855: "iso"}  # fmt: skip
_EXIF_POINTER, _GPS_POINTER = 0x8769, 0x8825
_PNG_TEXT_KEYS = ("Title", "Description", "Author", "Comment")
_TAG_KEYS = ("title", "artist", "album", "date", "genre", "comment", "description")


def filename_words(path: Path) -> str:
    """The words of a file's name without extension: ``cat_on-sofa.jpg`` -> ``cat on sofa``."""
    return " ".join(w for w in re.split(r"[\W_]+", display_name(path.stem)) if w)


def _clean(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return " ".join(str(value).replace("\x00", " ").split())


@functools.cache
def _quiet_pillow(warning: type[Warning]) -> None:
    """Keep Pillow's ``DecompressionBombWarning`` off stderr: only the header is read here (pixels are never
    decoded), and an image past twice the limit raises ``DecompressionBombError``, reported as a failure."""
    warnings.filterwarnings("ignore", category=warning)


def _exif(img: Any) -> dict[str, str]:
    try:
        exif = img.getexif()
    except Exception:
        return {}
    found = {name: _clean(exif[tag]) for tag, name in _EXIF_BASE.items() if tag in exif}
    try:
        sub = exif.get_ifd(_EXIF_POINTER)
        found.update({name: _clean(sub[tag]) for tag, name in _EXIF_IFD.items() if tag in sub})
        if exif.get_ifd(_GPS_POINTER):
            found["gps"] = "yes"
    except Exception:
        pass
    return {key: value for key, value in found.items() if value}


def _png_text(img: Any) -> dict[str, str]:
    """PNG text chunks people fill in (Title, Description, Author, Comment), as lower-case keys."""
    if img.format != "PNG":
        return {}
    found = {
        key.lower(): _clean(img.info[key]) for key in _PNG_TEXT_KEYS if isinstance(img.info.get(key), str)
    }
    return {key: value for key, value in found.items() if value}


def _media_result(path: Path, file_type: FileType, summary: str, meta: dict[str, Any]) -> Extracted:
    kind = file_type.value
    text = f"{kind} {display_name(path.name)}: {summary}. filename: {filename_words(path)}"
    return Extracted(file_type, guess_mime_type(path, file_type), [Segment(text)], meta, media_kind=kind)


def extract_image(path: Path, file_type: FileType) -> Extracted:
    """Image (Pillow): format, dimensions, mode, frame count and EXIF (camera, dates, lens, GPS presence)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - a core dependency
        raise missing_library("pillow") from None
    _quiet_pillow(Image.DecompressionBombWarning)
    try:
        with open_regular(path) as fh, Image.open(fh) as img:
            meta: dict[str, Any] = {"format": img.format, "width": img.width, "height": img.height,
                                    "mode": img.mode, "frames": getattr(img, "n_frames", 1)}  # fmt: skip
            exif = _exif(img)
            png_text = _png_text(img)
    except UnidentifiedImageError:
        raise ExtractionError(str(path), "not a readable image (unknown or corrupt format)") from None
    except Image.DecompressionBombError as exc:
        raise ExtractionError(
            str(path), f"decompression limit: image too large to open safely ({exc})"
        ) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except (SyntaxError, ValueError, EOFError, OSError) as exc:
        raise ExtractionError(str(path), f"corrupt or truncated image: {exc}") from None
    meta["exif"] = exif
    if png_text:
        meta["png_text"] = png_text
    parts = [f"{meta['format']}, {meta['width']}x{meta['height']} pixels, {meta['mode']}"]
    if meta["frames"] > 1:
        parts.append(f"{meta['frames']} frames")
    camera = " ".join(v for v in (exif.get("camera_make"), exif.get("camera_model")) if v)
    if camera:
        parts.append(f"camera: {camera}")
    taken = exif.get("datetime_original") or exif.get("datetime")
    if taken:
        parts.append(f"taken: {taken}")
    fields = {**exif, **png_text}
    for key in ("title", "description", "artist", "author", "comment", "lens"):
        if key in fields:
            parts.append(f"{key}: {fields[key]}")
    return _media_result(path, file_type, "; ".join(parts), meta)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d} min"


def _mutagen(path: Path) -> Any:
    try:
        import mutagen
    except ImportError:  # pragma: no cover - a core dependency
        raise missing_library("mutagen") from None
    try:
        with open_regular(path) as fh:
            return mutagen.File(fh, easy=True)
    except mutagen.MutagenError as exc:
        raise ExtractionError(str(path), f"corrupt or unsupported media file: {exc}") from None


def _tags(parsed: Any) -> dict[str, str]:
    tags = getattr(parsed, "tags", None)
    if not tags:
        return {}
    found: dict[str, str] = {}
    for key in _TAG_KEYS:
        try:
            value = tags.get(key)
        except Exception:
            continue
        if value:
            found[key] = _clean(value[0] if isinstance(value, list) else value)
    return {k: v for k, v in found.items() if v}


def _stream_meta(parsed: Any) -> dict[str, Any]:
    info = parsed.info
    meta: dict[str, Any] = {
        "container": type(parsed).__name__.removeprefix("Easy"),
        "duration": round(float(info.length), 3),
    }
    for attr in ("sample_rate", "channels", "bitrate", "codec", "bits_per_sample"):
        value = getattr(info, attr, None)
        if value:
            meta[attr] = value
    meta["tags"] = _tags(parsed)
    return meta


def _wav_meta(path: Path) -> dict[str, Any]:
    import wave

    try:
        with open_regular(path) as fh, wave.open(fh, "rb") as wav:
            rate, frames = wav.getframerate(), wav.getnframes()
            meta: dict[str, Any] = {"container": "WAVE", "sample_rate": rate, "channels": wav.getnchannels(),
                                    "bits_per_sample": 8 * wav.getsampwidth()}  # fmt: skip
    except (wave.Error, EOFError) as exc:
        raise ExtractionError(str(path), f"not a valid WAV file: {exc}") from None
    meta["duration"] = round(frames / rate, 3) if rate else 0.0
    meta["tags"] = {}
    return meta


def _describe_stream(meta: dict[str, Any]) -> str:
    parts = [f"{meta['container']}, duration {_duration(meta['duration'])}"]
    if "codec" in meta:
        parts.append(f"codec {meta['codec']}")
    if "sample_rate" in meta:
        parts.append(f"{meta['sample_rate']} Hz")
    if "channels" in meta:
        parts.append("mono" if meta["channels"] == 1 else f"{meta['channels']} channels")
    parts.extend(f"{key}: {value}" for key, value in meta.get("tags", {}).items())
    return "; ".join(parts)


def extract_audio(path: Path, file_type: FileType) -> Extracted:
    """Audio (mutagen; WAV via the stdlib ``wave`` when mutagen cannot): duration, codec, rate, tags."""
    is_wav = guess_mime_type(path, file_type) == "audio/wav"
    try:
        parsed = _mutagen(path)
    except ExtractionError:
        if not is_wav:
            raise
        parsed = None
    if parsed is not None and getattr(parsed, "info", None) is not None:
        meta = _stream_meta(parsed)
    elif is_wav:
        meta = _wav_meta(path)
    else:
        raise ExtractionError(str(path), "not a recognised audio file (unknown or corrupt format)")
    return _media_result(path, file_type, _describe_stream(meta), meta)


def extract_video(path: Path, file_type: FileType) -> Extracted:
    """Video: duration, codec and tags for MP4/MOV (mutagen); other containers by name and size only."""
    mime = guess_mime_type(path, file_type)
    parsed = _mutagen(path) if mime in ("video/mp4", "video/quicktime") else None
    if parsed is not None and getattr(parsed, "info", None) is not None:
        meta = _stream_meta(parsed)
        return _media_result(path, file_type, _describe_stream(meta), meta)
    if mime in ("video/mp4", "video/quicktime"):
        raise ExtractionError(str(path), "not a readable MP4/QuickTime video (corrupt or truncated)")
    size = path.stat().st_size
    meta = {"container": mime, "duration": None, "size": size, "tags": {}}
    return _media_result(path, file_type, f"{mime} video, {size} bytes (duration not read)", meta)
