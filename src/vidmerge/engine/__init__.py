"""The media engine: prepare a template version once, encode dynamic segments, package and
verify. argv.py builds every ffmpeg command line; ffmpeg.py is the one place that runs one."""
