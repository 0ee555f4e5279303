"""The shape and HNSW parameters of a vector index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from usearch.index import Index, MetricKind, ScalarKind

from appliance.errors import InvalidInputError
from appliance.settings import IndexDtype, IndexSettings

SCALARS: dict[str, ScalarKind] = {
    "f32": ScalarKind.F32,
    "f16": ScalarKind.F16,
    "i8": ScalarKind.I8,
}


@dataclass(frozen=True)
class IndexSpec:
    """The shape and HNSW parameters of an index; stored in every snapshot header."""

    dimension: int
    dtype: IndexDtype = "f32"
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 64

    def __post_init__(self) -> None:
        if self.dtype not in SCALARS:
            raise InvalidInputError(f"index dtype must be one of f32, f16, i8 (got {self.dtype!r})")
        for name in ("dimension", "connectivity", "expansion_add", "expansion_search"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"index {name} must be a positive integer (got {value!r})")

    @classmethod
    def from_settings(cls, settings: IndexSettings, dimension: int) -> IndexSpec:
        """The spec for vectors of ``dimension`` under the configured ``[index]`` settings."""
        return cls(
            dimension=dimension,
            dtype=settings.dtype,
            connectivity=settings.connectivity,
            expansion_add=settings.expansion_add,
            expansion_search=settings.expansion_search,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndexSpec:
        """Rebuild from ``to_dict`` output; anything malformed raises ``InvalidInputError``."""
        try:
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"index spec is malformed: {exc!r}") from exc

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)

    def new_usearch(self) -> Index:
        """An empty usearch index with this spec and the cosine metric."""
        return Index(
            ndim=self.dimension,
            metric=MetricKind.Cos,
            dtype=SCALARS[self.dtype],
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self.expansion_search,
        )
