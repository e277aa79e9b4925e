"""Drawing primitives shared by the synthetic photo modules: colours with jitter, shading, ellipses, blobs."""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

Spot = tuple[float, float, float]  # (x, y, radius) of a food area where toppings may land
TRAY = "#9aa0a6"  # the tray colour seen through a donut's hole


def rgb(hex_colour: str, rng: np.random.Generator, jitter: float = 10.0) -> tuple[int, int, int]:
    base = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
    return tuple(int(v) for v in np.clip(base + rng.normal(0, jitter, 3), 0, 255))


def shade(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v * f))) for v in c)


def ellipse(
    d: ImageDraw.ImageDraw, x: float, y: float, rx: float, ry: float, fill, outline=None, width: int = 1
) -> None:
    d.ellipse((x - rx, y - ry, x + rx, y + ry), fill=fill, outline=outline, width=width)


def poly(
    x: float,
    y: float,
    r: float,
    rng: np.random.Generator,
    n: int = 9,
    rough: float = 0.25,
    aspect: float = 1.0,
    angle: float = 0.0,
):
    """An irregular closed polygon around (x, y): blobs, leaves, heaps."""
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        rr = r * (1 + rough * (rng.random() - 0.5) * 2)
        px, py = rr * math.cos(a) * aspect, rr * math.sin(a)
        pts.append((x + px * math.cos(angle) - py * math.sin(angle), y + px * math.sin(angle) + py * math.cos(angle)))
    return pts
