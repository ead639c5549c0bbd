"""The landing page a customer opens from an email: the video, at once, on any phone.

The page is generic on purpose: chat apps and link previews read it, so it carries no name and
no value, only the render's token inside relative URLs (`{token}/index.m3u8` from `/v/{token}`,
so it works behind any public base URL). It loads scripts from `/static/` only, and says so in
its Content-Security-Policy. The player lives in `static/player.js`.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from vidmerge.plan import MP4, PLAYLIST, POSTER
from vidmerge.template.manifest import Page

HLS, HLS_FULL = "hls.min.js", "hls.full.min.js"  # hls.js's light build (no subtitles) and its full one
GO, LOGO = "go", "logo"  # the call to action's counted redirect; the template's logo

WORDS = {  # the page's own words, by the template's `page.lang`
    "ja": {"unmute": "タップで音声オン", "replay": "もう一度見る", "file": "動画ファイルを開く"},
    "en": {"unmute": "Tap for sound", "replay": "Watch again", "file": "Open the video file"},
}


def csp(media_origin: str = "", style: str = "") -> str:
    """No third-party anything; hls.js transmuxes in a blob: worker and feeds MSE through blob:
    URLs. `media_origin` is the object store the MP4 and poster URLs redirect to, if any. The
    page's one inline `style` is allowed by its hash: no other inline style runs."""
    extra = f" {media_origin}" if media_origin else ""
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return (
        "default-src 'none'; script-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
        f"media-src 'self' blob:{extra}; img-src 'self' data:{extra}; style-src 'sha256-{digest}'; "
        "base-uri 'none'; form-action 'none'"
    )


STYLE = """
  html, body {{ margin: 0; min-height: 100%; background: #000; color: #fff;
    font-family: system-ui, -apple-system, "Hiragino Sans", "Noto Sans CJK JP", sans-serif; }}
  header {{ display: flex; justify-content: center; padding: 10px; background: {brand}; }}
  header img {{ display: block; max-height: 40px; max-width: 60vw; }}
  main {{ display: flex; flex-direction: column; align-items: center; justify-content: center;
    min-height: calc(100vh - {header}px); min-height: calc(100dvh - {header}px); }}
  .frame {{ position: relative; width: min(100vw, calc((100vh - {reserve}px) * {w} / {h}));
    width: min(100vw, calc((100dvh - {reserve}px) * {w} / {h})); }}
  video {{ display: block; width: 100%; aspect-ratio: {w} / {h}; background: #000; object-fit: contain; }}
  #unmute {{ position: absolute; top: 12px; right: 12px; padding: 10px 16px; border: 0; border-radius: 999px;
    background: rgba(0, 0, 0, .65); color: #fff; font: inherit; font-size: 16px; cursor: pointer;
    display: flex; align-items: center; gap: 6px; }}
  #unmute[hidden], #end[hidden] {{ display: none; }}
  #end {{ position: absolute; inset: 0; display: flex; flex-direction: column; gap: 16px; align-items: center;
    justify-content: center; background: rgba(0, 0, 0, .72); }}
  #replay {{ padding: 10px 20px; border: 2px solid #fff; border-radius: 999px; background: transparent;
    color: #fff; font: inherit; font-size: 16px; cursor: pointer; }}
  .actions {{ display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: center; justify-content: center;
    margin: 16px; }}
  .cta {{ display: inline-block; padding: 14px 28px; border-radius: 999px; background: {brand}; color: #fff;
    font-size: 18px; font-weight: bold; text-decoration: none; box-shadow: 0 0 0 2px rgba(255, 255, 255, .35); }}
  .file {{ color: #ccc; font-size: 14px; }}
"""


def style(page: Page, size: tuple[int, int] = (16, 9)) -> str:
    """The page's CSS: framed to the video's `size`, in the template's brand colour (a checked
    `#rrggbb`), with room for the logo's header when there is one."""
    header = 60 if page.logo else 0
    return STYLE.format(brand=page.brand_color, header=header, reserve=header + 90, w=int(size[0]), h=int(size[1]))


PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<meta name="theme-color" content="{brand}">
<meta property="og:type" content="website">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{description}">
<meta name="twitter:card" content="summary">
<title>{title}</title>
<script src="/static/{hls}" defer></script>
<script src="/static/player.js" defer></script>
<style>{style}</style>
</head>
<body>
{header_html}<main>
<div class="frame">
<video id="v" controls playsinline muted autoplay preload="auto"{poster}
       data-hls="{token}/{playlist}" data-mp4="{token}/{mp4}" data-events="{token}/events"></video>
<button id="unmute" type="button" hidden><svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
<path fill="currentColor" d="M3 9v6h4l5 5V4L7 9H3zm13.6 3 2.7-2.7-1.3-1.3-2.7 2.7-2.7-2.7-1.3 1.3 2.7 2.7-2.7 2.7
 1.3 1.3 2.7-2.7 2.7 2.7 1.3-1.3-2.7-2.7z"/></svg>{unmute}</button>
<div id="end" hidden><button id="replay" type="button">{replay}</button>{cta}</div>
</div>
<p class="actions">{cta}<a class="file" href="{token}/{mp4}">{file}</a></p>
</main>
</body>
</html>
"""


def landing_page(
    token: str,
    status: str,
    page: Page,
    *,
    media_origin: str = "",
    size: tuple[int, int] = (16, 9),
    captions: bool = False,
) -> str:
    """The page of one render, framed to the video's `size` (a 9:16 clip fills a phone's screen, a
    16:9 one its width), with the template's brand, logo and call to action. The poster exists
    only once the render is done: before that the browser would hold a connection open waiting
    for it, so the page goes without. With `captions`, the full hls.js (its light build, 70 kB
    smaller gzipped, plays no subtitles)."""
    token = escape(token, quote=True)
    words = WORDS[page.lang]
    poster = f' poster="{token}/{POSTER}"' if status == "done" else ""
    cta = f'<a class="cta" href="{token}/{GO}">{escape(page.cta.label)}</a>' if page.cta else ""
    header = f'<header><img src="{token}/{LOGO}" alt=""></header>\n' if page.logo else ""
    css = style(page, size)
    return PAGE.format(
        token=token, poster=poster, csp=csp(media_origin, css), style=css, title=escape(page.title),
        description=escape(page.description), lang=page.lang, brand=page.brand_color, cta=cta,
        header_html=header, playlist=PLAYLIST, mp4=MP4, hls=HLS_FULL if captions else HLS,
        **{k: escape(v) for k, v in words.items()},
    )  # fmt: skip
