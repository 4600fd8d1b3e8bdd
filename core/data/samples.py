"""The bundled samples: tables, image sets and text (see sample_data/README.md for sources and licences).

A sample's `name` is its key (English, stable); what a visitor reads, its `title` and `description`, are the
messages "data.samples.<key>.title" / ".description" of core/locale/*/LC_MESSAGES/data.po."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.i18n import t

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    file_name: str
    target: str
    key: str
    kind: str = "table"  # DataSpec.kind: table, images (a zip of class folders) or text

    @property
    def path(self) -> Path:
        return SAMPLE_DIR / self.file_name

    @property
    def title(self) -> str:
        """The sample's name in the current language."""
        return t(f"data.samples.{self.key}.title")

    @property
    def description(self) -> str:
        """What the table holds and what to predict, in the current language."""
        return t(f"data.samples.{self.key}.description")


SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for sample in (
        Sample("Adult census income", "adult.csv", "income", "adult"),
        Sample("Diamond prices", "diamonds.csv", "price", "diamonds"),
        Sample("Wine cultivars", "wine.csv", "cultivar", "wine"),
        Sample("Fashion-MNIST clothing photos", "fashion_mnist_10k.zip", "label", "fashion", "images"),
        Sample("Handwritten digits", "digits.zip", "label", "digits", "images"),
        Sample("Movie reviews (English)", "rotten_tomatoes.csv", "label", "rotten_tomatoes", "text"),
        Sample("Product and hotel reviews (Chinese)", "chinese_reviews.csv", "情感", "chinese_reviews", "text"),
    )
}
