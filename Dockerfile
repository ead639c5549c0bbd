# One image for the API (`vidmerge serve`) and the workers (`vidmerge worker`).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VIDMERGE_HOST=0.0.0.0 VIDMERGE_DATA_DIR=/data
WORKDIR /app
# libfribidi0: Pillow's Raqm layout loads it to draw variant forms (辻 + U+E0100)
RUN apt-get update && apt-get install -y --no-install-recommends libfribidi0 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --system --uid 10001 vidmerge && mkdir /data && chown vidmerge /data
USER vidmerge
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["vidmerge", "serve"]
