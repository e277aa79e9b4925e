"""Request and response bodies of the service (pydantic, unknown fields refused) and the upload checks."""
from __future__ import annotations

import io
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field

from seje_sdk.errors import InputError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextItem(Strict):
    """A Recipe1M layer1 line: {"text": "..."}."""

    text: str


Line = Union[str, TextItem]


class RecipeIn(Strict):
    """A recipe: title, ingredient lines, instruction lines (plain strings or Recipe1M {"text": ...} items).

    Any one or two of the three may be missing (a partial recipe is a query); the SDK's
    seje_sdk.recipe.validate_recipe refuses a recipe with none.
    """

    id: Union[str, int, None] = None
    title: str = ""
    ingredients: list[Line] = Field(default_factory=list)
    instructions: list[Line] = Field(default_factory=list)

    def to_sdk(self, max_chars: int) -> dict[str, Any]:
        """The plain dict the SDK embeds; refuses recipes longer than `max_chars` characters in all."""
        plain = {"title": self.title,
                 "ingredients": [x if isinstance(x, str) else x.text for x in self.ingredients],
                 "instructions": [x if isinstance(x, str) else x.text for x in self.instructions]}
        size = len(plain["title"]) + sum(map(len, plain["ingredients"])) + sum(map(len, plain["instructions"]))
        if size > max_chars:
            raise InputError(f"recipe: {size} characters, the limit is {max_chars}")
        from seje_sdk.recipe import validate_recipe

        validate_recipe(plain, "recipe")  # the SDK's one check (an empty recipe is refused here, with 422)
        return plain


class RecipeSearch(Strict):
    recipe: RecipeIn
    k: int = Field(default=5, ge=1)


class TextSearch(Strict):
    """Typed words ("spicy chicken curry"): the bundle's text encoder, else a title-only recipe."""

    text: str
    k: int = Field(default=5, ge=1)


class RecipeEmbed(Strict):
    recipes: list[RecipeIn] = Field(min_length=1)


class Hit(BaseModel):
    rank: int
    id: Union[str, int]
    score: float
    title: str | None = None
    thumbnail: str | None = None


class SearchOut(BaseModel):
    query: str
    target: str
    k: int
    hits: list[Hit]
    unknown_words: list[str] | None = None  # text queries: words outside the model's vocabulary
    substitutes: dict[str, str] | None = None  # text queries: unseen word -> the vocabulary word read for it


class EmbedOut(BaseModel):
    dim: int
    embeddings: list[list[float]]


def check_image_header(data: bytes, name: str, max_pixels: int) -> int:
    """The decoded size (pixels) of an upload, from its header; refuses one that is empty, not an image, or over `max_pixels`."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(f"{name}: empty upload")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"{name}: {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{name}: not a readable image ({type(e).__name__})") from e
    if width * height > max_pixels:
        raise ImageTooLarge(f"{name}: {width}x{height} is over the {max_pixels}-pixel limit (decompression-bomb guard); "
                            "downscale it first")
    return width * height


class ImageTooLarge(InputError):
    """An upload over the pixel limit (answered with 413)."""
