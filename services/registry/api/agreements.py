"""REST controller for agreements: parse, call one application method, map the answer."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from uuid import UUID

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter

from services.registry.api.schemas import AgreementCreate, AgreementPage, AgreementRead, FormName, StageName
from services.registry.application import Registry
from services.registry.projections.agreements import AgreementFilter, AgreementsReadModel
from shared.errors import BadRequest
from shared.http import identity_of

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=200,
        description="A retry with the same key and body returns the first answer and creates nothing new.",
    ),
]


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


class AgreementController(Controller):
    path = "/agreements"
    tags = ["agreements"]  # noqa: RUF012

    @post("/", operation_id="createAgreement", status_code=201, summary="Start a cooperation (persiapan)")
    async def create(
        self, request: Request, state: State, data: JSONBody[AgreementCreate], idempotency_key: IdempotencyKey = None
    ) -> Response[AgreementRead]:
        registry: Registry = state.registry
        started = await anyio.to_thread.run_sync(
            partial(registry.start_agreement, identity_of(request), data.to_command(), idempotency_key=idempotency_key)
        )
        agreement = started.agreement
        headers = {**_etag(agreement.version), "Location": f"/agreements/{agreement.id}"}
        if started.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(AgreementRead.from_aggregate(agreement), status_code=201, headers=headers)

    @get("/{agreement_id:uuid}", operation_id="getAgreement", summary="Current state of a cooperation")
    async def get_one(self, request: Request, state: State, agreement_id: FromPath[UUID]) -> Response[AgreementRead]:
        registry: Registry = state.registry
        agreement = await anyio.to_thread.run_sync(registry.get_agreement, identity_of(request), agreement_id)
        etag = _etag(agreement.version)
        if request.headers.get("if-none-match") == etag["ETag"]:
            return Response(None, status_code=304, headers=etag)  # type: ignore[arg-type]
        return Response(AgreementRead.from_aggregate(agreement), headers=etag)

    @get("/", operation_id="listAgreements", summary="Tenant-scoped list with filters and cursor pagination")
    async def list_all(
        self,
        request: Request,
        state: State,
        stage: Annotated[list[StageName] | None, Parameter(description="one or more stages")] = None,
        form: Annotated[list[FormName] | None, Parameter(description="one or more forms")] = None,
        category: Annotated[str | None, Parameter(pattern="^(wajib|sukarela)$")] = None,
        region: Annotated[str | None, Parameter(pattern=r"^\d{2}(\.\d{2})?$", description="a party region")] = None,
        province: Annotated[str | None, Parameter(pattern=r"^\d{2}$")] = None,
        urusan: Annotated[str | None, Parameter(pattern=r"^[1-3]\.\d{2}$")] = None,
        q: Annotated[str | None, Parameter(max_length=200, description="words in title or object")] = None,
        limit: Annotated[int | None, Parameter(ge=1)] = None,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
    ) -> AgreementPage:
        settings = state.settings
        size = limit or settings.page_size_default
        if size > settings.page_size_max:
            raise BadRequest(f"limit paling banyak {settings.page_size_max}.", code="limit_too_large")
        read_model: AgreementsReadModel = state.agreements
        page = await read_model.list(
            identity_of(request).tenant,
            AgreementFilter(
                stage=stage or (),
                form=form or (),
                category=category,
                region=region,
                province=province,
                urusan=urusan,
                q=q,
            ),
            limit=size,
            cursor=cursor,
        )
        return AgreementPage(
            items=[AgreementRead.from_row(r) for r in page.rows], next_cursor=page.next_cursor, limit=size
        )
