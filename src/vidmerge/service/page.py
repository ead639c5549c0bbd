"""The landing page a customer opens from an email: the video, at once, on any phone."""

from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<meta property="og:title" content="あなただけの動画">
<meta property="og:type" content="video.other">
<title>あなただけの動画</title>
<style>
  html, body {{ margin: 0; background: #000; height: 100%; }}
  main {{ display: flex; align-items: center; justify-content: center; min-height: 100%; }}
  video {{ width: 100%; max-width: 1280px; aspect-ratio: 16 / 9; background: #000; }}
</style>
</head>
<body>
<main>
<video id="v" controls playsinline muted autoplay preload="auto" poster="{token}/poster.jpg"
       data-hls="{token}/index.m3u8" data-mp4="{token}/video.mp4"></video>
</main>
<script src="/static/hls.min.js"></script>
<script src="/static/player.js"></script>
</body>
</html>
"""


def landing_page(token: str, status: str) -> str:
    # URLs are relative to /v/, so the page works behind any public base URL.
    return PAGE.format(token=escape(token, quote=True))
