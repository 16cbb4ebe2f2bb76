"""Recordings: write frames to a file, read them back anywhere (docs/recording.md).

``writer.RecordingWriter`` appends frames; ``reader.Recording`` reads them
(pure Python: no root, no BPF, no libbpf); ``replay`` turns a recording into
frame sources for the dashboard and batch output. ``errors.RecordingError`` is
the one exception a file that cannot be read at all raises.
"""
