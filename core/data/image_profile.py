"""What an image set holds, for the Data page and `layerlab profile`: images per class, sizes and modes,
exact duplicates (also across classes), class imbalance, and a few example images per class to show."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.data.table_rules import natural_key

EXAMPLES_PER_CLASS = 8
MAX_DUPLICATE_GROUPS = 20
IMBALANCE_RATIO = 3.0  # the largest class has this many times the images of the smallest


@dataclass(frozen=True)
class ImageProfile:
    num_images: int
    side: int
    channels: int
    classes: dict  # class → images, natural order
    splits: dict  # "train"/"test" → {class: images}; empty when the zip had no train/ and test/ folders
    sizes: dict  # "W×H" → images (original sizes, most common first, at most 10)
    modes: dict  # original Pillow mode → images
    duplicate_groups: int  # sets of two or more images with the same bytes
    duplicate_images: int  # images that repeat an earlier one (what "drop duplicates" removes)
    cross_class_duplicates: tuple  # ({"labels": [...], "files": [...]}), the same image under two classes
    imbalance_ratio: float  # largest class / smallest class
    examples: dict  # class → row positions of a few images to show

    @property
    def imbalanced(self) -> bool:
        return self.imbalance_ratio >= IMBALANCE_RATIO

    def to_dict(self) -> dict:
        return {
            "kind": "images",
            "num_images": self.num_images,
            "side": self.side,
            "channels": self.channels,
            "classes": self.classes,
            "splits": self.splits,
            "sizes": self.sizes,
            "modes": self.modes,
            "duplicate_groups": self.duplicate_groups,
            "duplicate_images": self.duplicate_images,
            "cross_class_duplicates": list(self.cross_class_duplicates),
            "imbalance_ratio": round(self.imbalance_ratio, 3),
            "imbalanced": self.imbalanced,
            "examples": self.examples,
        }


def profile_images(manifest: pd.DataFrame, pixels: np.ndarray, *, label: str = "label") -> ImageProfile:
    labels = manifest[label].astype(str)
    counts = labels.value_counts()
    classes = {name: int(counts[name]) for name in sorted(counts.index, key=natural_key)}
    splits: dict = {}
    if "split" in manifest.columns and manifest["split"].astype(str).isin(["train", "test"]).any():
        for split, group in manifest.groupby(manifest["split"].astype(str), sort=True):
            if split:
                group_counts = group[label].astype(str).value_counts()
                splits[split] = {name: int(group_counts.get(name, 0)) for name in classes}
    sizes: dict = {}
    if {"width", "height"} <= set(manifest.columns):
        text = manifest["width"].astype(int).astype(str) + "×" + manifest["height"].astype(int).astype(str)
        sizes = {key: int(value) for key, value in text.value_counts().head(10).items()}
    modes = (
        {str(key): int(value) for key, value in manifest["mode"].astype(str).value_counts().items()}
        if "mode" in manifest.columns
        else {}
    )
    groups = 0
    repeated = 0
    across: list[dict] = []
    if "sha1" in manifest.columns:
        repeated = int(manifest["sha1"].duplicated().sum())
        duplicated = manifest[manifest["sha1"].duplicated(keep=False)]
        for _, group in duplicated.groupby("sha1", sort=False):
            groups += 1
            names = sorted(set(group[label].astype(str)), key=natural_key)
            if len(names) > 1 and len(across) < MAX_DUPLICATE_GROUPS:
                across.append({"labels": names, "files": [str(name) for name in group["file"].head(5)]})
    rng = np.random.default_rng(0)
    examples = {}
    for name in classes:
        positions = np.flatnonzero(labels.to_numpy() == name)
        chosen = positions if len(positions) <= EXAMPLES_PER_CLASS else rng.choice(positions, EXAMPLES_PER_CLASS, False)
        examples[name] = [int(position) for position in np.sort(chosen)]
    values = list(classes.values())
    return ImageProfile(
        num_images=len(manifest),
        side=int(pixels.shape[1]),
        channels=int(pixels.shape[-1]),
        classes=classes,
        splits=splits,
        sizes=sizes,
        modes=modes,
        duplicate_groups=groups,
        duplicate_images=repeated,
        cross_class_duplicates=tuple(across),
        imbalance_ratio=(max(values) / max(min(values), 1)) if values else 1.0,
        examples=examples,
    )
