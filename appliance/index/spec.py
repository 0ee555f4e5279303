"""The shape and HNSW parameters of a vector index."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
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
    """The shape and HNSW parameters of an index; stored in every snapshot header.

    ``exact_search_max``: collections of at most this many vectors are searched exactly
    (brute force), as is any search whose ``k`` is a quarter of the collection or more.
    ``build_threads``: usearch insertion threads; 1 because usearch's concurrent insertion
    strands nodes (unum-cloud/USearch#735; they are caught by the self-check either way).
    Both are search/build behaviour, not graph structure: ``tuned`` takes them (and
    ``expansion_search``) from the current settings for a loaded snapshot.
    """

    dimension: int
    dtype: IndexDtype = "f32"
    connectivity: int = 32
    expansion_add: int = 128
    expansion_search: int = 64
    exact_search_max: int = 4096
    build_threads: int = 1

    def __post_init__(self) -> None:
        if self.dtype not in SCALARS:
            raise InvalidInputError(f"index dtype must be one of f32, f16, i8 (got {self.dtype!r})")
        for name in ("dimension", "connectivity", "expansion_add", "expansion_search"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"index {name} must be a positive integer (got {value!r})")
        for name in ("exact_search_max", "build_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"index {name} must be an integer >= 0 (got {value!r})")

    @classmethod
    def from_settings(cls, settings: IndexSettings, dimension: int) -> IndexSpec:
        """The spec for vectors of ``dimension`` under the configured ``[index]`` settings."""
        return cls(
            dimension=dimension,
            dtype=settings.dtype,
            connectivity=settings.connectivity,
            expansion_add=settings.expansion_add,
            expansion_search=settings.expansion_search,
            exact_search_max=settings.exact_search_max,
            build_threads=settings.build_threads,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndexSpec:
        """Rebuild from ``to_dict`` output (fields added since take their defaults).

        Anything malformed raises ``InvalidInputError``.
        """
        try:
            return cls(
                **{
                    spec.name: data[spec.name]
                    for spec in fields(cls)
                    if spec.name in data or spec.default is MISSING
                }
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"index spec is malformed: {exc!r}") from exc

    def tuned(self, current: IndexSpec) -> IndexSpec:
        """This graph's structure with ``current``'s search and build behaviour."""
        return replace(
            self,
            expansion_search=current.expansion_search,
            exact_search_max=current.exact_search_max,
            build_threads=current.build_threads,
        )

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
