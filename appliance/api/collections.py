"""Collections and subject erasure."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from appliance.api.auth import current_actor
from appliance.api.contract import AUTHENTICATED, WITH_BODY, WITH_PATH, error_responses
from appliance.api.dependencies import Available, ServedEncoders
from appliance.api.schemas import (
    Collection,
    CollectionCreated,
    CollectionList,
    CreateCollection,
    Erased,
)
from appliance.domain.roles import Permission
from appliance.errors import InvalidInputError
from appliance.services.erasure import ErasureService
from appliance.services.items import CollectionService


class CollectionController(Controller):
    """Create and list collections (a collection's vectors share one dimension)."""

    path = "/v1/collections"
    tags: ClassVar[list[str]] = ["collections"]

    @post(
        opt={"permission": Permission.MANAGE_COLLECTIONS},
        sync_to_thread=True,
        status_code=201,
        responses=error_responses(AUTHENTICATED, WITH_BODY, (409,)),
    )
    def create_collection(
        self,
        data: JSONBody[CreateCollection],
        collections: NamedDependency[CollectionService],
        encoders: NamedDependency[Available[ServedEncoders]],
        request: Request[Any, Any, Any],
    ) -> CollectionCreated:
        """Create a collection in the served space's dimension."""
        dimension = data.dimension
        served_encoders = encoders.optional()
        served = served_encoders.dimension if served_encoders else None
        if dimension is None:
            if served is None:
                raise InvalidInputError("dimension is required: no embedding space is served")
            dimension = served
        elif served is not None and dimension != served:
            raise InvalidInputError(
                f"dimension {dimension} differs from the served space's {served}",
                remedy="leave dimension out to use the served space's",
            )
        row = collections.create(data.name, dimension, current_actor(request))
        return CollectionCreated(
            name=row.name, dimension=row.dimension, created_at=row.created_at.isoformat()
        )

    @get(
        opt={"permission": Permission.SEARCH},
        sync_to_thread=True,
        responses=error_responses(AUTHENTICATED),
    )
    def list_collections(self, collections: NamedDependency[CollectionService]) -> CollectionList:
        """Every collection's name and dimension."""
        return CollectionList(
            collections=[Collection(name=c.name, dimension=c.dimension) for c in collections.list()]
        )


class SubjectController(Controller):
    """Erasure of a subject everywhere (crypto-shredding)."""

    path = "/v1/subjects"
    tags: ClassVar[list[str]] = ["subjects"]

    @delete(
        "/{subject_id:str}",
        opt={"permission": Permission.ERASE},
        sync_to_thread=True,
        status_code=200,
        responses=error_responses(AUTHENTICATED, WITH_PATH),
    )
    def erase_subject(
        self,
        subject_id: FromPath[str],
        erasure: NamedDependency[ErasureService],
        request: Request[Any, Any, Any],
        shred_now: FromQuery[bool] = False,
    ) -> Erased:
        """Erase a subject everywhere by destroying their key (idempotent); ``?shred_now=true``
        also rotates the KEK at once so backups taken before the erasure stop opening."""
        erased = erasure.erase_subject(
            subject_id, actor=current_actor(request), shred_now=shred_now
        )
        return Erased(deleted=erased)
