"""Drawing the food for synthetic photos: each dish's main shape, its texture and the toppings.

`draw_dish` turns a `Dish` (form, colours, texture, count) and the recipe's ingredients into
Pillow drawing calls; synth_images composes the scene around it (table, vessel, camera, light).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from trainer.data.synth_catalog import INGREDIENTS, Dish
from trainer.data.synth_draw import TRAY, Spot, ellipse, poly, rgb, shade
from trainer.data.synth_finish import draw_finish, draw_garnish, finish_colours
from trainer.data.synth_variants import PORTIONS, Variant

# ---- the dish's main shape ------------------------------------------------------------------


def _grid_points(cx: float, cy: float, r: float, k: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    step = 2 * r / max(cols, rows)
    pts = []
    for i in range(k):
        gx, gy = i % cols, i // cols
        pts.append(
            (
                cx - r + step * (gx + 0.5) + rng.normal(0, step * 0.06),
                cy - r + step * (gy + 0.5) + (r * 2 - rows * step) / 2 + rng.normal(0, step * 0.06),
            )
        )
    return pts


def _form(
    d: ImageDraw.ImageDraw, dish: Dish, cx: float, cy: float, r: float, cols: list, k: int, rng: np.random.Generator
) -> list[Spot]:
    """Draw the main food shape of `dish.form`; return the spots where toppings go."""
    form = dish.form
    edge = shade(cols[0], 0.75)
    if form == "disc":
        ellipse(d, cx, cy, r * 0.95, r * 0.95, fill=cols[0], outline=edge, width=2)
        for i, c in enumerate(cols[1:], 1):
            ellipse(d, cx, cy, r * (0.95 - 0.12 * i), r * (0.95 - 0.12 * i), fill=c)
        return [(cx, cy, r * 0.7)]
    if form == "stack":
        for i in range(k):
            ellipse(
                d, cx, cy - i * r * 0.07, r * 0.8, r * 0.78, fill=shade(cols[0], 0.9 + 0.04 * i), outline=edge, width=2
            )
        return [(cx, cy - (k - 1) * r * 0.07, r * 0.55)]
    if form in ("pieces", "rings", "rolls", "squares", "slices"):
        n = max(1, k)
        step = 2 * r / math.ceil(math.sqrt(n))
        s = step * (0.42 if form != "slices" else 0.6)
        spots = []
        for x, y in _grid_points(cx, cy, r * 0.85, n, rng):
            c = shade(cols[0], rng.uniform(0.9, 1.1))
            if form in ("squares", "slices"):
                d.rounded_rectangle(
                    (x - s, y - s * 0.9, x + s, y + s * 0.9),
                    radius=int(s * (0.1 if form == "squares" else 0.3)),
                    fill=c,
                    outline=shade(c, 0.75),
                    width=2,
                )
            else:
                ellipse(d, x, y, s, s, fill=c, outline=shade(c, 0.75), width=2)
                if form == "rings":
                    ellipse(d, x, y, s * 0.8, s * 0.8, fill=cols[1])
                    ellipse(d, x, y, s * 0.3, s * 0.3, fill=rgb(TRAY, rng))
                if form == "rolls":
                    ellipse(d, x, y, s * 0.82, s * 0.82, fill=cols[1])
            spots.append((x, y, s * (0.35 if form == "rolls" else 0.7)))
        return spots
    if form in ("liquid", "dip", "glass"):
        ellipse(d, cx, cy, r, r, fill=cols[0])
        if form == "dip":
            for i in range(3):
                d.arc(
                    (
                        cx - r * (0.3 + 0.2 * i),
                        cy - r * (0.3 + 0.2 * i),
                        cx + r * (0.3 + 0.2 * i),
                        cy + r * (0.3 + 0.2 * i),
                    ),
                    rng.uniform(0, 180),
                    rng.uniform(200, 360),
                    fill=shade(cols[0], 0.8),
                    width=2,
                )
        return [(cx, cy, r * 0.8)]
    if form == "heap":
        d.polygon(poly(cx, cy, r * 0.85, rng, n=11, rough=0.2), fill=cols[0], outline=edge)
        return [(cx, cy, r * 0.7)]
    if form == "strands":
        for _ in range(40):
            x, y, rr = cx + rng.normal(0, r * 0.3), cy + rng.normal(0, r * 0.3), rng.uniform(0.2, 0.5) * r
            a = rng.uniform(0, 360)
            d.arc(
                (x - rr, y - rr, x + rr, y + rr),
                a,
                a + rng.uniform(60, 160),
                fill=shade(cols[0], rng.uniform(0.85, 1.08)),
                width=max(2, int(r * 0.04)),
            )
        d.polygon(poly(cx, cy, r * 0.35, rng, rough=0.3), fill=cols[1])
        return [(cx, cy, r * 0.6)]
    if form == "folded":
        spots = []
        for i in range(k):
            x = cx + (i - (k - 1) / 2) * r * 0.8
            d.pieslice(
                (x - r * 0.6, cy - r * 0.6, x + r * 0.6, cy + r * 0.6), 180, 360, fill=cols[0], outline=edge, width=2
            )
            spots.append((x, cy - r * 0.25, r * 0.3))
        return spots
    if form == "roll":
        spots = []
        for i in range(k):
            y = cy + (i - (k - 1) / 2) * r * 0.7
            d.rounded_rectangle(
                (cx - r * 0.85, y - r * 0.28, cx + r * 0.85, y + r * 0.28),
                radius=int(r * 0.25),
                fill=cols[0],
                outline=edge,
                width=2,
            )
            ellipse(d, cx + r * 0.7, y, r * 0.15, r * 0.24, fill=rgb("#8a5a3a", rng))  # cut end: filling
            spots.append((cx + r * 0.7, y, r * 0.15))
        return spots
    if form == "burger":
        bun, patty = cols
        d.chord((cx - r * 0.8, cy + r * 0.1, cx + r * 0.8, cy + r * 0.7), 0, 180, fill=bun)
        d.rounded_rectangle(
            (cx - r * 0.85, cy - r * 0.05, cx + r * 0.85, cy + r * 0.22), radius=int(r * 0.1), fill=patty
        )
        d.chord(
            (cx - r * 0.8, cy - r * 0.85, cx + r * 0.8, cy + r * 0.2),
            180,
            360,
            fill=bun,
            outline=shade(bun, 0.8),
            width=2,
        )
        for _ in range(10):
            ellipse(
                d,
                cx + rng.uniform(-0.55, 0.55) * r,
                cy - rng.uniform(0.15, 0.55) * r,
                r * 0.03,
                r * 0.02,
                fill=(240, 230, 200),
            )
        return [(cx, cy - r * 0.02, r * 0.5)]
    if form == "whole":
        ellipse(d, cx, cy, r * 0.7, r * 0.52, fill=cols[0], outline=edge, width=2)
        for s in (-1, 1):
            ellipse(d, cx + s * r * 0.55, cy + r * 0.35, r * 0.28, r * 0.16, fill=shade(cols[0], 0.92), outline=edge)
        ellipse(d, cx - r * 0.2, cy - r * 0.2, r * 0.2, r * 0.1, fill=shade(cols[0], 1.25))  # glossy skin
        return [(cx, cy + r * 0.75, r * 0.25), (cx - r * 0.8, cy - r * 0.4, r * 0.2)]
    if form == "fillet":
        d.rounded_rectangle(
            (cx - r * 0.8, cy - r * 0.35, cx + r * 0.8, cy + r * 0.35),
            radius=int(r * 0.3),
            fill=cols[0],
            outline=edge,
            width=2,
        )
        return [(cx, cy + r * 0.6, r * 0.3), (cx, cy, r * 0.3)]
    if form in ("slab", "loaf"):
        w, h = (0.85, 0.55) if form == "slab" else (0.7, 0.4)
        d.rounded_rectangle(
            (cx - r * w, cy - r * h, cx + r * w, cy + r * h), radius=int(r * 0.08), fill=cols[0], outline=edge, width=2
        )
        if form == "slab":
            for _ in range(6):  # melted cheese patches on top
                d.polygon(
                    poly(cx + rng.uniform(-0.6, 0.6) * r, cy + rng.uniform(-0.35, 0.35) * r, r * 0.15, rng),
                    fill=cols[1],
                )
        else:  # two cut slices beside the loaf show the crumb
            for i in range(2):
                y = cy + r * (0.55 + 0.12 * i)
                d.rectangle(
                    (cx - r * 0.5 + i * r * 0.5, y, cx - r * 0.1 + i * r * 0.5, y + r * 0.3),
                    fill=cols[1],
                    outline=cols[0],
                    width=2,
                )
        return [(cx, cy, r * 0.5)]
    if form == "wedge":
        a = rng.uniform(0, 360)
        d.pieslice((cx - r, cy - r, cx + r, cy + r), a, a + 50, fill=cols[0])
        d.pieslice((cx - r * 0.9, cy - r * 0.9, cx + r * 0.9, cy + r * 0.9), a + 2, a + 48, fill=cols[1])
        mid = math.radians(a + 25)
        return [(cx + math.cos(mid) * r * 0.55, cy + math.sin(mid) * r * 0.55, r * 0.2)]
    raise ValueError(f"unknown dish form {form!r} for {dish.name}")


def _texture(d: ImageDraw.ImageDraw, texture: str, spots: list[Spot], base, rng: np.random.Generator) -> None:
    for x, y, r in spots:
        if texture == "speckle":
            pts = (np.array([x, y]) + rng.uniform(-r, r, (int(12 + r), 2))).ravel().tolist()
            half = len(pts) // 4 * 2
            d.point(pts[:half], fill=shade(base, 0.7))
            d.point(pts[half:], fill=shade(base, 1.2))
        elif texture in ("grid", "lattice"):  # waffle pockets (dark, axis-aligned) or pie lattice (light, diagonal)
            step = max(3, int(r / 4))
            slant = 0 if texture == "grid" else r * 0.5
            colour = shade(base, 0.75 if texture == "grid" else 1.2)
            for i in range(-int(r), int(r) + 1, step):
                d.line((x + i - slant, y - r, x + i + slant, y + r), fill=colour, width=2)
                d.line((x - r, y + i + slant, x + r, y + i - slant), fill=colour, width=2)
        elif texture == "stripes":
            for i in range(-2, 3):
                d.line(
                    (x - r + i * r * 0.4, y - r, x + i * r * 0.4, y + r),
                    fill=shade(base, 0.45),
                    width=max(2, int(r * 0.12)),
                )
        elif texture == "swirl":
            for i in range(1, 4):
                rr = r * i / 4
                d.arc((x - rr, y - rr, x + rr, y + rr), 0, 300, fill=shade(base, 1.15), width=2)
        else:
            _pattern(d, texture, x, y, r, base, rng)


def _pattern(d: ImageDraw.ImageDraw, texture: str, x: float, y: float, r: float, base, rng: np.random.Generator) -> None:
    """Dark line patterns that tell dishes of one shape apart without a colour of their own."""
    dark, width = shade(base, 0.55), max(2, int(r * 0.07))
    if texture == "dots":  # a regular lattice of dots
        step = r * 0.38
        for i in range(-2, 3):
            for j in range(-2, 3):
                if (i * step) ** 2 + (j * step) ** 2 < (r * 0.85) ** 2:
                    ellipse(d, x + i * step, y + j * step, r * 0.08, r * 0.08, fill=dark)
    elif texture == "rings":  # concentric closed rings
        for k in (0.3, 0.58, 0.85):
            ellipse(d, x, y, r * k, r * k, fill=None, outline=dark, width=width)
    elif texture == "spokes":  # radial cuts
        a0 = rng.uniform(0, math.pi)
        for k in range(8):
            a = a0 + k * math.pi / 4
            d.line((x, y, x + math.cos(a) * r * 0.9, y + math.sin(a) * r * 0.9), fill=dark, width=width)
    elif texture == "waves":  # parallel wavy lines
        for k in (-0.5, 0.0, 0.5):
            pts = [(x + t * r * 0.85, y + k * r + math.sin(t * 3 * math.pi) * r * 0.12) for t in np.linspace(-1, 1, 13)]
            d.line(pts, fill=dark, width=width)
    elif texture == "chevrons":  # rows of V marks
        for k in (-0.5, 0.0, 0.5):
            for c in (-0.45, 0.0, 0.45):
                cx, cy, s = x + c * r, y + k * r, r * 0.16
                d.line((cx - s, cy - s * 0.6, cx, cy + s * 0.6, cx + s, cy - s * 0.6), fill=dark, width=width)
    elif texture == "cracks":  # jagged fissures from the middle
        for _ in range(5):
            a, px, py = rng.uniform(0, 2 * math.pi), x, y
            pts = [(px, py)]
            for step in range(4):
                a += rng.normal(0, 0.5)
                px, py = px + math.cos(a) * r * 0.22, py + math.sin(a) * r * 0.22
                pts.append((px, py))
            d.line(pts, fill=dark, width=width)


def _topping(
    d: ImageDraw.ImageDraw, shape: str, colour, x: float, y: float, s: float, rng: np.random.Generator
) -> None:
    a = rng.uniform(0, math.pi)
    dark = shade(colour, 0.7)
    if shape == "disc":
        ellipse(d, x, y, s, s, fill=colour, outline=dark)
    elif shape == "leaf":
        d.polygon(poly(x, y, s, rng, n=8, rough=0.1, aspect=2.0, angle=a), fill=colour, outline=dark)
    elif shape == "dot":
        ellipse(d, x, y, s * 0.55, s * 0.55, fill=colour)
    elif shape == "cube":
        d.polygon(poly(x, y, s * 0.75, rng, n=4, rough=0.1, angle=a), fill=colour, outline=dark)
    elif shape == "strip":
        d.line(
            (
                x - math.cos(a) * s * 1.2,
                y - math.sin(a) * s * 1.2,
                x + math.cos(a) * s * 1.2,
                y + math.sin(a) * s * 1.2,
            ),
            fill=colour,
            width=max(2, int(s * 0.5)),
        )
    elif shape == "crumb":
        for _ in range(4):
            ellipse(d, x + rng.normal(0, s * 0.5), y + rng.normal(0, s * 0.5), s * 0.28, s * 0.28, fill=colour)
    elif shape == "ring":
        ellipse(d, x, y, s, s * 0.8, fill=None, outline=colour, width=max(2, int(s * 0.3)))
    elif shape == "wedge":
        deg = math.degrees(a) * 2
        d.pieslice((x - s * 1.2, y - s * 1.2, x + s * 1.2, y + s * 1.2), deg, deg + 70, fill=colour, outline=dark)
    elif shape == "blob":
        d.polygon(poly(x, y, s, rng, rough=0.35), fill=colour)
    elif shape == "curl":
        deg = math.degrees(a) * 2
        d.arc((x - s, y - s, x + s, y + s), deg, deg + 250, fill=colour, width=max(2, int(s * 0.55)))
    elif shape == "drizzle":
        pts = [(x + rng.normal(0, s * 1.5), y + rng.normal(0, s * 1.5)) for _ in range(5)]
        d.line(pts, fill=colour, width=max(1, int(s * 0.25)))


def _toppings(
    d: ImageDraw.ImageDraw, dish: Dish, used: list[str], spots: list[Spot], scale: float, amount: float,
    rng: np.random.Generator,
) -> None:
    """Scatter each visible ingredient of this recipe over the food spots, large enough to see at 128 px."""
    for name in used:
        ing = INGREDIENTS[name]
        if not ing.colour or name in dish.hidden:
            continue
        small = ing.shape in ("dot", "crumb")
        n = int(rng.integers(7, 13) if small else rng.integers(3, 6))
        for _ in range(max(2, int(round(n * amount)))):
            x, y, r = spots[rng.integers(len(spots))]
            ang, dist = rng.uniform(0, 2 * math.pi), r * math.sqrt(rng.random())
            _topping(
                d,
                ing.shape,
                rgb(ing.colour, rng, 12),
                x + dist * math.cos(ang),
                y + dist * math.sin(ang),
                scale * rng.uniform(0.1, 0.15),
                rng,
            )


def _base_colours(dish: Dish, used: list[str], rng: np.random.Generator) -> list:
    cols = [rgb(c, rng, 12) for c in dish.colours]
    if dish.form == "glass":  # a smoothie takes the colour of its fruit
        fruit = [INGREDIENTS[n].colour for n in used if n in dish.hidden and INGREDIENTS[n].colour]
        if fruit:
            mix = np.mean([rgb(c, rng, 5) for c in fruit] + [cols[0]], axis=0)
            cols[0] = tuple(int(v) for v in (0.6 * mix + 0.4 * 235))
    return cols


def draw_dish(
    d: ImageDraw.ImageDraw, dish: Dish, used: list[str], variant: Variant, cx: float, cy: float, r: float,
    rng: np.random.Generator,
) -> None:
    """Draw a recipe of `dish` centred on (cx, cy) within radius r: shape, texture, finish, toppings, garnish."""
    _, cover, amount = PORTIONS[variant.portion]
    r *= cover
    cols = finish_colours(_base_colours(dish, used, rng), variant, rng)
    lo, hi = dish.count
    count = max(1, int(round(rng.integers(lo, hi + 1) * (amount if hi > 1 else 1.0))))
    spots = _form(d, dish, cx, cy, r, cols, count, rng)
    base = cols[-1] if dish.form in ("disc", "wedge") else cols[0]
    _texture(d, dish.texture, spots, base, rng)
    _toppings(d, dish, used, spots, r, amount, rng)
    draw_finish(d, variant.finish, spots, base, r, rng)  # after the toppings: the marks stay visible
    draw_garnish(d, variant, spots, r, rng)
