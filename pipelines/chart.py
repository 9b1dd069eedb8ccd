"""A tiny PNG line chart (stdlib only) for the digest's sentiment-by-topic panel.

Mail clients block remote images and many strip SVG, so the chart is a PNG attached inline by
Content-ID; drawing a few polylines needs no plotting library. Labels live in the HTML legend and
the text alternative, so the image carries no text (and needs no fonts).
"""
from __future__ import annotations

import struct
import zlib

PALETTE = [(11, 79, 138), (200, 80, 40), (40, 140, 80), (140, 60, 150), (190, 150, 20), (90, 90, 90)]
BG, AXIS, GRID = (255, 255, 255), (60, 60, 60), (225, 225, 225)


def _png(width: int, height: int, pixels: bytearray) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    stride = width * 3
    raw = b"".join(b"\x00" + bytes(pixels[y * stride:(y + 1) * stride]) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height
        self.px = bytearray(bytes(BG) * width * height)

    def dot(self, x: int, y: int, color: tuple[int, int, int], size: int = 1) -> None:
        for dx in range(-size + 1, size):
            for dy in range(-size + 1, size):
                xx, yy = x + dx, y + dy
                if 0 <= xx < self.w and 0 <= yy < self.h:
                    i = (yy * self.w + xx) * 3
                    self.px[i:i + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int], size: int = 1) -> None:
        """Bresenham: whole pixels, no anti-aliasing (fine at this size)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, color, size)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def png(self) -> bytes:
        return _png(self.w, self.h, self.px)


def line_chart(series: list[list[float | None]], width: int = 560, height: int = 180) -> bytes:
    """Series of values in [-1, 1] over the same x positions; None leaves a gap."""
    c = Canvas(width, height)
    left, right, top, bottom = 12, width - 12, 10, height - 12
    mid = (top + bottom) // 2
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = int(top + frac * (bottom - top))
        c.line(left, y, right, y, AXIS if frac == 0.5 else GRID)
    n = max((len(s) for s in series), default=0)
    if n == 0:
        return c.png()

    def xy(i: int, v: float) -> tuple[int, int]:
        x = left + (right - left) * i // max(1, n - 1)
        return x, int(mid - max(-1.0, min(1.0, v)) * (mid - top))

    for k, values in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        prev = None
        for i, v in enumerate(values):
            if v is None:
                prev = None
                continue
            point = xy(i, v)
            if prev is not None:
                c.line(*prev, *point, color, size=2)
            c.dot(*point, color, size=3)
            prev = point
    return c.png()
