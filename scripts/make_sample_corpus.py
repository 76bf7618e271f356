"""Generate src/kagura/demo_corpus: a small mixed-type corpus with one distinct topic per file.

    python scripts/make_sample_corpus.py [OUTPUT_DIR]

Files (topic):
    release-notes.txt              Lumen 2.3 release notes (plain text)
    docs/auth-guide.md             authentication, OAuth 2.0 access and refresh tokens (markdown, sections)
    code/async_downloader.py       bounded concurrent downloads with asyncio (Python)
    docs/solar-system.pdf          the planets of the solar system, two pages (hand-written PDF)
    docs/sourdough-recipe.docx     a sourdough bread recipe with headings and a table (python-docx)
    travel/kyoto-itinerary.html    a three-day Kyoto travel itinerary (HTML)
    media/quarterly-sales-chart.png  a bar chart (Pillow, PNG text chunks)
    media/cat-on-windowsill.jpg    a cat photo with EXIF camera and date (Pillow)
    media/tuning-fork-a440.wav     1.5 s of a 440 Hz sine (stdlib wave)

The output is deterministic (fixed zip timestamps in the DOCX), so rerunning it changes nothing.
"""

from __future__ import annotations

import io
import math
import struct
import sys
import wave
import zipfile
from pathlib import Path

RELEASE_NOTES = """\
Lumen 2.3.0 release notes
=========================

Released 2024-03-18.

New features
- Dark mode for the dashboard, following the operating system setting.
- CSV export of any report, with a choice of delimiter.
- Keyboard shortcuts: press "?" to list them.

Bug fixes
- Fixed a crash when a report had more than 10,000 rows.
- Fixed time zones in scheduled e-mails sent around daylight saving changes.
- The search box no longer loses focus after a refresh.

Upgrade notes
- Lumen 2.3 needs PostgreSQL 13 or newer; run the database migration before restarting the server.
- The deprecated /v1/legacy-reports endpoint was removed; use /v2/reports.
"""

AUTH_GUIDE = """\
# Authentication guide

Every request to the API must be authenticated. This guide explains how clients obtain and use tokens.

## OAuth 2.0 authorization code flow

1. Redirect the user to the authorization server's `/authorize` endpoint with your `client_id`,
   the `redirect_uri` and a random `state`.
2. The user signs in and grants consent; the server redirects back with an authorization `code`.
3. Exchange the code for tokens at `/oauth/token`, sending your client secret or a PKCE verifier.

```text
# this line is inside a code block, not a heading
POST /oauth/token grant_type=authorization_code&code=...
```

## Access tokens and refresh tokens

The access token is a short-lived bearer token: send it as `Authorization: Bearer <token>`.
The refresh token is long-lived and must be stored securely on the server side.

### Token expiry

Access tokens expire after 15 minutes. When the API answers 401 with `invalid_token`, use the refresh
token at `/oauth/token` with `grant_type=refresh_token` to get a new access token. Refresh tokens are
rotated: each use returns a new one and revokes the old one.

## API keys for servers

Machine-to-machine clients can use an API key in the `X-API-Key` header instead of OAuth. Rotate keys
every 90 days and never commit them to source control.
"""

ASYNC_DOWNLOADER = '''\
"""Download many URLs concurrently with asyncio, at most `limit` at a time, retrying failures."""

import asyncio
import random


async def fetch(url: str) -> bytes:
    """Pretend to download `url` (a stand-in for an HTTP client call)."""
    await asyncio.sleep(random.uniform(0.01, 0.05))
    return f"contents of {url}".encode()


async def fetch_with_retry(url: str, attempts: int = 3) -> bytes:
    """Retry with exponential backoff: 0.1 s, 0.2 s, 0.4 s..."""
    for attempt in range(attempts):
        try:
            return await fetch(url)
        except ConnectionError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


async def download_all(urls: list[str], limit: int = 5) -> list[bytes]:
    """Download every URL with a semaphore bounding concurrency; results keep the input order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(url: str) -> bytes:
        async with semaphore:
            return await fetch_with_retry(url)

    return await asyncio.gather(*(one(url) for url in urls))


if __name__ == "__main__":
    pages = asyncio.run(download_all([f"https://example.com/page/{i}" for i in range(20)]))
    print(len(pages), "pages downloaded")
'''

PDF_PAGES = [
    [
        "The Solar System: the inner planets",
        "",
        "The Sun holds more than 99.8 percent of the mass of the solar system.",
        "Mercury is the smallest planet and the closest to the Sun; a year there lasts 88 days.",
        "Venus has a thick carbon dioxide atmosphere and the hottest surface of any planet.",
        "Earth is the only planet known to host life and liquid water on its surface.",
        "Mars, the red planet, has Olympus Mons, the tallest volcano in the solar system.",
    ],
    [
        "The Solar System: the outer planets",
        "",
        "Jupiter is a gas giant; its Great Red Spot is a storm larger than Earth.",
        "Saturn is famous for its bright rings of ice and rock.",
        "Uranus rotates on its side, tilted about 98 degrees.",
        "Neptune has the fastest winds measured on any planet, over 2,000 km per hour.",
        "Pluto was reclassified as a dwarf planet in 2006.",
    ],
]

KYOTO_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Three days in Kyoto: travel itinerary</title>
  <style>body { font-family: sans-serif; } .hidden { display: none; }</style>
  <script>window.analytics = "tracking code that must not be indexed";</script>
</head>
<body>
  <h1>Three days in Kyoto</h1>
  <p>A travel itinerary for a spring trip to Kyoto, Japan, during the cherry blossom season.</p>
  <h2>Day 1: Fushimi Inari and Gion</h2>
  <p>Start early at the Fushimi Inari shrine and walk through thousands of red torii gates.
     In the evening, stroll through the Gion geisha district and have dinner in Pontocho alley.</p>
  <h2>Day 2: Arashiyama</h2>
  <p>Walk the Arashiyama bamboo grove at sunrise, then visit Tenryu-ji temple and its garden.
     Take the Sagano scenic railway along the Hozu river.</p>
  <h2>Day 3: Kinkaku-ji and the Philosopher's Path</h2>
  <ul>
    <li>Kinkaku-ji, the Golden Pavilion, opens at 9:00.</li>
    <li>Lunch: yudofu (simmered tofu) near Nanzen-ji.</li>
    <li>Walk the Philosopher's Path under the cherry trees to Ginkaku-ji.</li>
  </ul>
  <table>
    <tr><th>Train</th><th>From</th><th>To</th></tr>
    <tr><td>JR Nara line</td><td>Kyoto Station</td><td>Inari</td></tr>
  </table>
  <img src="torii.jpg" alt="red torii gates at Fushimi Inari">
  <script>document.write("more script text that is not visible");</script>
</body>
</html>
"""


def pdf_bytes(pages: list[list[str]], title: str) -> bytes:
    """A minimal valid PDF: one Helvetica text stream per page, correct xref offsets."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    info_id = font_id + 1
    page_ids = [3 + 2 * i for i in range(n_pages)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n_pages} >>".encode(),
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        info_id: f"<< /Title ({escape(title)}) /Producer (kagura sample corpus) >>".encode(),
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        ops = ["BT", "/F1 16 Tf", "72 720 Td", "20 TL", f"({escape(lines[0])}) Tj", "/F1 11 Tf", "16 TL"]
        ops += [f"T* ({escape(line)}) Tj" for line in lines[1:]]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for obj_id in sorted(objects):
        offsets[obj_id] = out.tell()
        out.write(b"%d 0 obj\n%s\nendobj\n" % (obj_id, objects[obj_id]))
    xref_at = out.tell()
    size = max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for obj_id in range(1, size):
        out.write(b"%010d 00000 n \n" % offsets[obj_id])
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (size, info_id))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def docx_bytes() -> bytes:
    """The sourdough recipe as DOCX, re-zipped with fixed timestamps so the bytes are reproducible."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Sourdough bread"
    document.core_properties.author = "kagura sample corpus"
    document.add_heading("Sourdough bread", level=0)
    document.add_paragraph("A crusty country loaf leavened only with a wild yeast sourdough starter.")
    document.add_heading("Ingredients", level=1)
    table = document.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Ingredient", "Grams", "Baker's percentage"), strict=True):
        cell.text = text
    for row in (("Bread flour", "450", "90%"), ("Whole wheat flour", "50", "10%"), ("Water", "375", "75%"),
                ("Active starter", "100", "20%"), ("Salt", "10", "2%")):  # fmt: skip
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text
    document.add_heading("Method", level=1)
    document.add_heading("Autolyse", level=2)
    document.add_paragraph(
        "Mix the flour and water and let the dough rest for one hour before adding starter."
    )
    document.add_heading("Bulk fermentation", level=2)
    document.add_paragraph(
        "Add the starter and salt. Over four hours, do four sets of stretch and folds, 30 minutes apart. "
        "The dough is ready when it has grown by half and is full of bubbles."
    )
    document.add_heading("Shaping and proofing", level=2)
    document.add_paragraph(
        "Shape a tight boule, place it in a floured banneton and proof overnight in the fridge."
    )
    document.add_heading("Baking", level=2)
    document.add_paragraph(
        "Bake in a preheated Dutch oven at 250 °C for 20 minutes with the lid on, "
        "then 25 minutes at 230 °C without the lid, until the crust is deep brown."
    )
    raw = io.BytesIO()
    document.save(raw)
    fixed = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=(2024, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename))
    return fixed.getvalue()


def chart_png() -> bytes:
    """A bar chart of quarterly sales with PNG text chunks (title, description)."""
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    img = Image.new("RGB", (320, 200), "white")
    draw = ImageDraw.Draw(img)
    draw.line([(30, 10), (30, 180), (310, 180)], fill="black", width=2)
    for i, value in enumerate((60, 95, 120, 150)):
        x = 50 + i * 65
        draw.rectangle([(x, 180 - value), (x + 40, 179)], fill=(40, 90 + 30 * i, 200))
    info = PngInfo()
    info.add_text("Title", "Quarterly sales chart")
    info.add_text("Description", "Bar chart of revenue growing from Q1 to Q4")
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=info, optimize=True)
    return out.getvalue()


def cat_jpeg() -> bytes:
    """A drawing of a ginger cat on a windowsill, with EXIF camera, date and description."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (240, 180), (170, 200, 230))
    draw = ImageDraw.Draw(img)
    draw.rectangle([(0, 130), (240, 180)], fill=(120, 90, 60))  # the windowsill
    draw.ellipse([(70, 80), (170, 135)], fill=(230, 140, 50))  # body
    draw.ellipse([(140, 60), (185, 100)], fill=(230, 140, 50))  # head
    draw.polygon([(145, 68), (150, 45), (160, 64)], fill=(230, 140, 50))  # ears
    draw.polygon([(168, 64), (178, 45), (182, 70)], fill=(230, 140, 50))
    exif = Image.Exif()
    exif[271] = "FUJIFILM"  # Make
    exif[272] = "X-T30"  # Model
    exif[270] = "A ginger cat sleeping on a sunny windowsill"  # ImageDescription
    exif[306] = "2024:05:04 09:12:30"  # DateTime
    exif.get_ifd(0x8769)[36867] = "2024:05:04 09:12:30"  # DateTimeOriginal
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80, exif=exif.tobytes())
    return out.getvalue()


def sine_wav(frequency: float = 440.0, seconds: float = 1.5, rate: int = 8000) -> bytes:
    """A mono 16-bit sine tone."""
    frames = b"".join(
        struct.pack("<h", round(12000 * math.sin(2 * math.pi * frequency * n / rate)))
        for n in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


def main(out_dir: Path) -> None:
    files: dict[str, bytes] = {
        "release-notes.txt": RELEASE_NOTES.encode(),
        "docs/auth-guide.md": AUTH_GUIDE.encode(),
        "code/async_downloader.py": ASYNC_DOWNLOADER.encode(),
        "docs/solar-system.pdf": pdf_bytes(PDF_PAGES, "The planets of the solar system"),
        "docs/sourdough-recipe.docx": docx_bytes(),
        "travel/kyoto-itinerary.html": KYOTO_HTML.encode(),
        "media/quarterly-sales-chart.png": chart_png(),
        "media/cat-on-windowsill.jpg": cat_jpeg(),
        "media/tuning-fork-a440.wav": sine_wav(),
    }
    for rel, data in files.items():
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"{len(data):>8}  {target}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "src" / "kagura" / "demo_corpus"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
