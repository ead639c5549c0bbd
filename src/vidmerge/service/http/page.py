"""The landing page a customer opens from an email: the video, at once, on any phone.

The page is generic on purpose: chat apps and link previews read it, so it carries no name and
no value, only the render's token inside relative URLs (`{token}/index.m3u8` from `/v/{token}`,
so it works behind any public base URL). It loads scripts from `/static/` only, and says so in
its Content-Security-Policy. The player lives in `static/player.js`.
"""

from __future__ import annotations

from html import escape

from vidmerge.plan import MP4, PLAYLIST, POSTER

TITLE = "あなただけの動画"
DESCRIPTION = "あなたのために用意した動画です。"


def csp(media_origin: str = "") -> str:
    """No third-party anything; hls.js transmuxes in a blob: worker and feeds MSE through blob:
    URLs. `media_origin` is the object store the MP4 and poster URLs redirect to, if any."""
    extra = f" {media_origin}" if media_origin else ""
    return (
        "default-src 'none'; script-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
        f"media-src 'self' blob:{extra}; img-src 'self' data:{extra}; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'"
    )


PAGE = """<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<meta name="theme-color" content="#000000">
<meta property="og:type" content="website">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{description}">
<meta name="twitter:card" content="summary">
<title>{title}</title>
<script src="/static/hls.min.js" defer></script>
<script src="/static/player.js" defer></script>
<style>
  html, body {{ margin: 0; height: 100%; background: #000; color: #fff;
    font-family: system-ui, -apple-system, "Hiragino Sans", "Noto Sans CJK JP", sans-serif; }}
  main {{ position: relative; display: flex; align-items: center; justify-content: center;
    min-height: 100vh; min-height: 100dvh; }}
  .frame {{ position: relative; width: min(100vw, calc(100vh * {w} / {h}));
    width: min(100vw, calc(100dvh * {w} / {h})); }}
  video {{ display: block; width: 100%; aspect-ratio: {w} / {h}; background: #000; object-fit: contain; }}
  #unmute {{ position: absolute; top: 12px; right: 12px; padding: 10px 16px; border: 0; border-radius: 999px;
    background: rgba(0, 0, 0, .65); color: #fff; font: inherit; font-size: 16px; cursor: pointer;
    display: flex; align-items: center; gap: 6px; }}
  #unmute[hidden] {{ display: none; }}
  a {{ color: #fff; }}
</style>
</head>
<body>
<main>
<div class="frame">
<video id="v" controls playsinline muted autoplay preload="auto"{poster}
       data-hls="{token}/{playlist}" data-mp4="{token}/{mp4}"></video>
<button id="unmute" type="button" hidden><svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
<path fill="currentColor" d="M3 9v6h4l5 5V4L7 9H3zm13.6 3 2.7-2.7-1.3-1.3-2.7 2.7-2.7-2.7-1.3 1.3 2.7 2.7-2.7 2.7
 1.3 1.3 2.7-2.7 2.7 2.7 1.3-1.3-2.7-2.7z"/></svg>タップで音声オン</button>
</div>
<noscript><p><a href="{token}/{mp4}">動画を開く</a></p></noscript>
</main>
</body>
</html>
"""


def landing_page(token: str, status: str, media_origin: str = "", size: tuple[int, int] = (16, 9)) -> str:
    """The page of one render, framed to the video's `size` (a 9:16 clip fills a phone's screen, a
    16:9 one its width). The poster exists only once the render is done: before that the browser
    would hold a connection open waiting for it, so the page goes without."""
    token = escape(token, quote=True)
    poster = f' poster="{token}/{POSTER}"' if status == "done" else ""
    return PAGE.format(
        token=token, poster=poster, csp=csp(media_origin), title=escape(TITLE), description=escape(DESCRIPTION),
        playlist=PLAYLIST, mp4=MP4, w=int(size[0]), h=int(size[1]),
    )  # fmt: skip
