"""Whether the images a campaign needs are there, without building anything (`plan`): a
recipe's image is current when its recipe-hash label matches the recipe; an external or
overridden image only has to be present. Read-only: it inspects, never builds or pulls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaos_eval.engine.client import Docker
from chaos_eval.images.recipes import LABEL_RECIPE, image_ref, recipe, recipe_hash


@dataclass(frozen=True)
class ImageState:
    name: str  # recipe name, or the ref of an external image
    ref: str
    present: bool
    current: bool  # present and (for a recipe's own ref) built from the current recipe

    @property
    def verdict(self) -> str:
        if not self.present:
            return "missing"
        return "ok" if self.current else "stale (will be rebuilt)"


async def image_states(
    recipes: Iterable[str], external_refs: Iterable[str], docker: Docker
) -> list[ImageState]:
    """One state per recipe name, then per external ref, in the order given."""
    out = []
    for name in recipes:
        ref = image_ref(name)
        labels = await docker.image_labels(ref)
        own = ref == recipe(name).ref
        current = labels is not None and (
            not own or labels.get(LABEL_RECIPE) == recipe_hash(recipe(name))
        )
        out.append(ImageState(name, ref, labels is not None, current))
    for ref in external_refs:
        present = (await docker.image_labels(ref)) is not None
        out.append(ImageState(ref, ref, present, present))
    return out
