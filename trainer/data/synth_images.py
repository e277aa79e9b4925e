"""Photos for the synthetic dataset, drawn with Pillow: a dish on a vessel on a cluttered table.

The category shows in the main shape and texture (a pizza is a disc with a rim, cookies are
speckled discs in a grid); colours and vessels are shared by all dishes. The recipe shows in its
own visible ingredients scattered on top (basil leaves, pepperoni discs, blueberry dots), its
flavour's tint, its finish (grill stripes, char, crust), its garnish, its portion and its vessel. Random lighting, colour cast, rotation,
crop, noise and table clutter make the model learn rather than read off a pixel.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from trainer.data.synth_catalog import INGREDIENTS, Dish
from trainer.data.synth_draw import ellipse, rgb, shade
from trainer.data.synth_food import draw_dish
from trainer.data.synth_variants import Variant

TABLES = (
    "#8b5a2b",
    "#a0703c",
    "#6b4423",
    "#d8d2c4",
    "#e9e4da",
    "#4a4f57",
    "#2f3b46",
    "#b9c6cf",
    "#7a2e2e",
    "#efe6d2",
    "#3d5a40",
)
# Ceramic glazes any plate, bowl, platter or casserole may have (drawn per photo: not a recipe attribute).
GLAZES = ("#f7f7f2", "#eef0f2", "#f1efe8", "#cfe0ee", "#2e3440", "#b8643c", "#a9c3a0", "#e8d9b5", "#6b7f99")
VESSEL_COLOURS = {  # (face, rim) for the vessels whose material fixes their colour
    "board": (("#b07a45", "#8e5f32"), ("#c9985e", "#a57840"), ("#7c5230", "#5e3d22")),
    "tray": (("#9aa0a6", "#7d8389"), ("#c0c4c8", "#9aa0a6")),
    "skillet": (("#2b2b2e", "#18181a"), ("#3a3634", "#222020")),
    "glass": (("#dfe8ee", "#b8c6d0"),),
}
JPEG_QUALITY = 88  # fixed encoder settings (no optimise pass, no EXIF) keep the bytes deterministic


# ---- table, clutter and vessel -------------------------------------------------------------


def _table(size: int, rng: np.random.Generator) -> Image.Image:
    colour = rgb(TABLES[rng.integers(len(TABLES))], rng, 18)
    img = Image.new("RGB", (size, size), colour)
    d = ImageDraw.Draw(img)
    style = rng.integers(3)
    if style == 0:  # wood grain
        for y in range(0, size, int(rng.integers(4, 9))):
            d.line((0, y, size, y + rng.integers(-3, 4)), fill=shade(colour, rng.uniform(0.85, 1.1)), width=1)
    elif style == 1:  # checked cloth
        step = int(rng.integers(10, 24))
        for i in range(0, size, step * 2):
            d.rectangle((i, 0, i + step, size), fill=shade(colour, 0.9))
            d.rectangle((0, i, size, i + step), fill=shade(colour, 0.92))
    return img


def _clutter(d: ImageDraw.ImageDraw, size: int, rng: np.random.Generator, foods: list[str]) -> None:
    """Cutlery, napkins and a side dish of some other food: distractors away from the centre."""
    for _ in range(int(rng.integers(0, 4))):
        edge = rng.integers(4)
        x = (
            rng.uniform(0.05, 0.95) * size
            if edge < 2
            else (rng.uniform(0, 0.15) if edge == 2 else rng.uniform(0.85, 1)) * size
        )
        y = (
            rng.uniform(0.05, 0.95) * size
            if edge >= 2
            else (rng.uniform(0, 0.15) if edge == 0 else rng.uniform(0.85, 1)) * size
        )
        kind = rng.integers(3)
        if kind == 0:  # fork or knife
            d.line(
                (x, y, x + rng.uniform(-0.1, 0.1) * size, y + rng.uniform(0.2, 0.35) * size),
                fill=rgb("#b8bcc2", rng, 15),
                width=int(size * 0.02) + 1,
            )
        elif kind == 1:  # napkin
            s = rng.uniform(0.1, 0.2) * size
            d.rectangle((x - s, y - s, x + s, y + s), fill=rgb(TABLES[rng.integers(len(TABLES))], rng, 40))
        else:  # small side bowl with something else in it
            s = rng.uniform(0.06, 0.11) * size
            ellipse(d, x, y, s, s, fill=rgb("#f2f2ee", rng, 8))
            food = INGREDIENTS[foods[rng.integers(len(foods))]]
            ellipse(d, x, y, s * 0.7, s * 0.7, fill=rgb(food.colour, rng, 15))


def _vessel_colours(kind: str, rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    if kind in VESSEL_COLOURS:
        options = VESSEL_COLOURS[kind]
        face, rim = options[rng.integers(len(options))]
        return rgb(face, rng, 8), rgb(rim, rng, 8)
    face = rgb(GLAZES[rng.integers(len(GLAZES))], rng, 8)
    return face, shade(face, 0.85)


def _vessel(d: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, rng: np.random.Generator) -> float:
    """Draw the plate/bowl/board/skillet/...; returns the radius available for the food."""
    face, rim = _vessel_colours(kind, rng)
    if kind in ("plate", "dish"):
        ellipse(d, cx + r * 0.04, cy + r * 0.05, r, r, fill=shade(face, 0.6))  # shadow
        ellipse(d, cx, cy, r, r, fill=rim)
        ellipse(d, cx, cy, r * 0.82, r * 0.82, fill=face)
        if kind == "dish":  # a casserole's two lugs
            for s in (-1, 1):
                d.rounded_rectangle((cx + s * r * 0.95 - r * 0.12, cy - r * 0.1, cx + s * r * 0.95 + r * 0.12, cy + r * 0.1),
                                    radius=int(r * 0.05) + 1, fill=rim)
        return r * 0.75
    if kind == "bowl":
        ellipse(d, cx + r * 0.05, cy + r * 0.06, r * 0.9, r * 0.9, fill=shade(face, 0.55))
        ellipse(d, cx, cy, r * 0.9, r * 0.9, fill=face)
        ellipse(d, cx, cy, r * 0.75, r * 0.75, fill=rim)
        return r * 0.7
    if kind == "skillet":  # black iron with a long handle
        a = rng.uniform(0, 2 * math.pi)
        d.line((cx, cy, cx + math.cos(a) * r * 1.7, cy + math.sin(a) * r * 1.7), fill=rim, width=max(3, int(r * 0.2)))
        ellipse(d, cx, cy, r * 0.92, r * 0.92, fill=rim)
        ellipse(d, cx, cy, r * 0.8, r * 0.8, fill=face)
        return r * 0.74
    if kind == "platter":  # an oval
        ellipse(d, cx + r * 0.04, cy + r * 0.05, r * 1.1, r * 0.75, fill=shade(face, 0.6))
        ellipse(d, cx, cy, r * 1.1, r * 0.75, fill=rim)
        ellipse(d, cx, cy, r * 0.95, r * 0.62, fill=face)
        return r * 0.6
    if kind == "glass":
        ellipse(d, cx, cy, r * 0.55, r * 0.55, fill=rim, outline=face, width=max(2, int(r * 0.08)))
        return r * 0.48
    w = r * (1.0 if kind == "board" else 1.05)
    d.rounded_rectangle(
        (cx - w, cy - w * 0.8, cx + w, cy + w * 0.8),
        radius=int(r * 0.1),
        fill=face,
        outline=rim,
        width=max(2, int(r * 0.05)),
    )
    return r * 0.78


def render_image(
    dish: Dish, used: list[str], variant: Variant, size: tuple[int, int], rng: np.random.Generator
) -> Image.Image:
    """One photo of a recipe of `dish` with toppings `used` and attributes `variant`, `size`=(w, h) pixels."""
    w, h = size
    canvas = int(max(w, h) * 1.45)
    img = _table(canvas, rng)
    d = ImageDraw.Draw(img)
    _clutter(d, canvas, rng, [n for n in INGREDIENTS if INGREDIENTS[n].colour])
    cx, cy = canvas / 2 + rng.normal(0, canvas * 0.03), canvas / 2 + rng.normal(0, canvas * 0.03)
    r = canvas * rng.uniform(0.34, 0.42)
    food_r = _vessel(d, variant.vessel, cx, cy, r, rng)
    draw_dish(d, dish, used, variant, cx, cy, food_r, rng)
    img = _rotate_crop(img, (w, h), rng)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.BoxBlur(float(rng.uniform(0.3, 1.0))))  # soft focus; box: 5x cheaper than gaussian
    return _light_and_noise(img, rng)


def _rotate_crop(img: Image.Image, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """Rotate by up to 40 degrees, zoom to 72-95% of the canvas and shift a little, in one affine pass."""
    canvas, (w, h) = img.size[0], size
    zoom = rng.uniform(0.68, 0.85) * canvas / max(w, h)  # input pixels per output pixel
    theta = math.radians(rng.uniform(-40, 40))
    cx = canvas / 2 + rng.normal(0, canvas * 0.03)
    cy = canvas / 2 + rng.normal(0, canvas * 0.03)
    a, b = zoom * math.cos(theta), zoom * math.sin(theta)
    # output (x, y) -> input (a x - b y + c, b x + a y + f), with the output centre on (cx, cy)
    c = cx - a * w / 2 + b * h / 2
    f = cy - b * w / 2 - a * h / 2
    fill = img.getpixel((0, 0))  # corners rotated into view continue the table, not a new colour
    return img.transform((w, h), Image.AFFINE, (a, -b, c, b, a, f), resample=Image.BILINEAR, fillcolor=fill)


def _light_and_noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Brightness, colour cast, a light gradient across the frame, and sensor noise."""
    arr = np.asarray(img, dtype=np.float32)
    h, w = arr.shape[:2]
    # a mild cast: the body's colour carries the recipe's flavour
    gain = (rng.uniform(0.8, 1.2) * rng.uniform(0.95, 1.05, 3)).astype(np.float32)
    gx = np.linspace(-1, 1, w, dtype=np.float32) * np.float32(rng.uniform(-0.15, 0.15))
    gy = np.linspace(-1, 1, h, dtype=np.float32) * np.float32(rng.uniform(-0.15, 0.15))
    arr *= (1 + gy[:, None] + gx[None, :])[:, :, None]
    arr *= gain
    # uniform integer noise (std = amp / sqrt(3)): 5x cheaper to draw than gaussian, looks the same after JPEG
    amp = int(rng.integers(3, 16))
    arr += rng.integers(-amp, amp + 1, arr.shape, dtype=np.int16)
    np.clip(arr, 0, 255, out=arr)
    return Image.fromarray(arr.astype(np.uint8))


def encode_jpeg(img: Image.Image) -> bytes:
    """JPEG bytes with fixed settings (same image, same bytes)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False, subsampling=2)
    return buf.getvalue()
