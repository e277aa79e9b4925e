"""Drawing a recipe's variant on its food: the finish (grill stripes, char, browning...) and the garnish.

These marks are what make two photos of the same dish tell two recipes apart, so they are
drawn large and in a colour of their own: at 128 px an ImageNet CNN sees them.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from trainer.data.synth_draw import Spot, ellipse, poly, rgb, shade
from trainer.data.synth_variants import FLAVOUR_MIX, GARNISHES, Variant

GARNISH_COLOURS = {
    "parsley": "#2f8a2a", "lemon": "#f6dc2a", "mint": "#3cb45a", "sour cream": "#fbfbf6", "powdered sugar": "#fdfdfd",
    "sesame seeds": "#f1e4bf", "red pepper flakes": "#d0241c", "balsamic glaze": "#2a140e", "sriracha": "#e2331c",
}


def finish_colours(cols: list, variant: Variant, rng: np.random.Generator) -> list:
    """Tint the dish's base colours by the flavour, then darken or brighten them by the finish."""
    if variant.flavour.colour:
        tint = np.array(rgb(variant.flavour.colour, rng, 8), dtype=float)
        cols = [tuple(int(v) for v in (1 - FLAVOUR_MIX) * np.array(c, dtype=float) + FLAVOUR_MIX * tint) for c in cols]
    factor = {"browned": 0.68, "charred": 0.85, "glazed": 1.1, "toasted": 0.92}.get(variant.finish, 1.0)
    return [shade(c, factor) for c in cols]


def _chord(x: float, y: float, r: float, offset: float, angle: float) -> tuple[float, float, float, float]:
    """The chord of circle (x, y, r) at signed distance `offset` from the centre, perpendicular to `angle`."""
    half = math.sqrt(max(r * r - offset * offset, 0.0))
    nx, ny = math.cos(angle + math.pi / 2), math.sin(angle + math.pi / 2)
    mx, my = x + nx * offset, y + ny * offset
    dx, dy = math.cos(angle) * half, math.sin(angle) * half
    return (mx - dx, my - dy, mx + dx, my + dy)


def draw_finish(d: ImageDraw.ImageDraw, finish: str, spots: list[Spot], base, scale: float, rng: np.random.Generator) -> None:
    """Marks of the cooking finish over every food spot."""
    if finish == "grilled":  # dark parallel bars at 45 degrees
        angle = math.radians(45 + rng.normal(0, 6))
        for x, y, r in spots:
            gap = max(r * 0.36, 3.0)
            for k in range(-3, 4):
                if abs(k * gap) < r * 0.95:
                    d.line(_chord(x, y, r, k * gap, angle), fill=(38, 24, 16), width=max(2, int(r * 0.16)))
    elif finish == "charred":  # black blisters
        for x, y, r in spots:
            for _ in range(int(rng.integers(6, 10))):
                a, dist = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.random()) * 0.85
                d.polygon(poly(x + dist * math.cos(a), y + dist * math.sin(a), r * rng.uniform(0.15, 0.25), rng, rough=0.4),
                          fill=(20, 16, 14))
    elif finish == "toasted":  # dense brown freckles
        for x, y, r in spots:
            for _ in range(int(20 + r)):
                a, dist = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.random())
                ellipse(d, x + dist * math.cos(a), y + dist * math.sin(a), scale * 0.035, scale * 0.035, fill=(92, 48, 20))
    elif finish == "glazed":  # white glossy streaks
        for x, y, r in spots:
            for _ in range(4):
                a = rng.uniform(0, 2 * math.pi)
                px, py = x + r * 0.45 * math.cos(a), y + r * 0.45 * math.sin(a)
                d.arc((px - r * 0.4, py - r * 0.4, px + r * 0.4, py + r * 0.4), 200, 300, fill=(255, 252, 240),
                      width=max(2, int(r * 0.12)))
    elif finish == "browned":  # a dark crust ring on each spot
        for x, y, r in spots:
            ellipse(d, x, y, r * 0.95, r * 0.95, fill=None, outline=shade(base, 0.5), width=max(2, int(r * 0.2)))


def draw_garnish(d: ImageDraw.ImageDraw, variant: Variant, spots: list[Spot], scale: float, rng: np.random.Generator) -> None:
    """The garnish on top, large: a sprig, a wedge, a dollop, a dusting, seeds, flakes or a drizzle."""
    name, style = GARNISHES[variant.garnish]
    if not name:
        return
    colour = rgb(GARNISH_COLOURS[variant.garnish], rng, 8)
    x, y, r = spots[0]
    s = scale * rng.uniform(0.24, 0.3)
    if style == "sprig":
        for _ in range(7):
            a = rng.uniform(0, 2 * math.pi)
            d.polygon(poly(x + s * 0.6 * math.cos(a), y + s * 0.6 * math.sin(a), s * 0.45, rng, n=7, rough=0.35), fill=colour,
                      outline=shade(colour, 0.6))
    elif style == "wedge":
        deg = rng.uniform(0, 360)
        d.pieslice((x - s * 1.7, y - s * 1.7, x + s * 1.7, y + s * 1.7), deg, deg + 110, fill=colour, outline=(250, 250, 235), width=2)
    elif style == "leaves":
        for k in range(3):
            a = 2 * math.pi * k / 3 + rng.normal(0, 0.2)
            d.polygon(poly(x + s * 0.5 * math.cos(a), y + s * 0.5 * math.sin(a), s * 0.5, rng, n=8, rough=0.1, aspect=2.0, angle=a),
                      fill=colour, outline=shade(colour, 0.6))
    elif style == "dollop":
        d.polygon(poly(x, y, s * 0.9, rng, n=10, rough=0.25), fill=colour, outline=shade(colour, 0.8))
        ellipse(d, x - s * 0.2, y - s * 0.2, s * 0.3, s * 0.2, fill=(255, 255, 255))
    elif style in ("dust", "seeds", "flakes"):
        size = {"dust": 0.02, "seeds": 0.03, "flakes": 0.028}[style] * scale
        for sx, sy, sr in spots:
            for _ in range(int(30 + 2 * sr)):
                a, dist = rng.uniform(0, 2 * math.pi), sr * math.sqrt(rng.random())
                px, py = sx + dist * math.cos(a), sy + dist * math.sin(a)
                if style == "seeds":
                    ellipse(d, px, py, size * 1.4, size * 0.8, fill=colour)
                else:
                    ellipse(d, px, py, size, size, fill=colour)
    elif style == "drizzle":  # a zigzag across all the food
        span = max(r, s * 3)
        pts = [(x + t * span, y + (0.3 if i % 2 else -0.3) * span) for i, t in enumerate(np.linspace(-1, 1, 9))]
        d.line(pts, fill=colour, width=max(2, int(scale * 0.035)), joint="curve")
