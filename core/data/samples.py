"""The bundled sample tables (see sample_data/README.md for sources and licences)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    file_name: str
    target: str
    description: str

    @property
    def path(self) -> Path:
        return SAMPLE_DIR / self.file_name


SAMPLES: dict[str, Sample] = {
    sample.name: sample
    for sample in (
        Sample(
            "Adult census income",
            "adult.csv",
            "income",
            "48,842 people from the 1994 US census. Predict whether income is above $50K (binary).",
        ),
        Sample(
            "Diamond prices",
            "diamonds.csv",
            "price",
            "53,940 diamonds with carat, cut, colour and clarity. Predict the price in US$ (regression).",
        ),
        Sample(
            "Wine cultivars",
            "wine.csv",
            "cultivar",
            "178 Italian wines, 13 chemical measurements. Predict which of 3 cultivars it is (multiclass).",
        ),
    )
}
