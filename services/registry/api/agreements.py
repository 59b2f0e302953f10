"""REST controller for agreements: parse, call one application method, map the answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody, Parameter

from services.registry.api.schemas import (
    DOCUMENT_PATTERN,
    AgreementCreate,
    AgreementPage,
    AgreementRead,
    AmendIn,
    ApprovalIn,
    ApprovalRequestIn,
    CancelIn,
    CorrectIn,
    DraftPksIn,
    ExtendIn,
    FormName,
    OfferResponseIn,
    SignFrameworkIn,
    SignPksIn,
    StageName,
    StartWorkPlanIn,
    SubmitOfferIn,
    TerminateIn,
)
from services.registry.application import Registry, without_state_filters
from services.registry.domain.next_steps import next_steps
from services.registry.projections.agreements import AgreementFilter, AgreementsReadModel
from shared.errors import BadRequest, InvalidInput
from shared.http import IdempotencyKey, IfMatch, identity_of, optional_version, page_size
from shared.openapi import file_operation
from shared.wire import SEARCH_MAX, TEXT_PATTERN, Label, Name, check_text

AgreementId = FromPath[UUID]
# What `shared.blobs.sniff_media_type` accepts, hence what a download can be.
ATTACHMENT_MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/webp", "image/tiff")


class AllowedAction(msgspec.Struct, omit_defaults=True):
    action: str
    documents: list[str] = []
    kinds: list[str] = []
    attachment_kind: str | None = None


class StoredAgreementPage(msgspec.Struct):
    """`AgreementPage` with its items as the read model stores them: already the API's JSON
    of each agreement (rendered once per change by the projection), served as is."""

    items: list[msgspec.Raw]
    next_cursor: str | None
    limit: int


class AllowedActions(msgspec.Struct):
    version: int
    actions: list[AllowedAction]


def _etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


async def _act(request: Request, state: State, agreement_id: UUID, if_match: str | None, command: Any) -> Response:
    registry: Registry = state.registry
    # Without If-Match the application answers 428 naming the agreement's current version.
    version = optional_version(if_match)
    agreement = await anyio.to_thread.run_sync(registry.act, identity_of(request), agreement_id, version, command)
    return Response(AgreementRead.from_aggregate(agreement), headers=_etag(agreement.version))


ACTION_RESPONSES = (
    "Answers the new state with its ETag. 404: not visible; 403 `not_a_party` or another role; 409 "
    "`version_conflict` (stale If-Match, body holds `current_version`); 422 with a rule `code`; 428 without "
    "If-Match (body holds `current_version`)."
)


def _doc(text: str) -> str:
    return f"{text}\n\n{ACTION_RESPONSES}"


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

    @get("/{agreement_id:uuid}", operation_id="getAgreement", summary="State of a cooperation, now or then",
         description="Current state. `version=N` gives the state right after version N, `as_of` (RFC 3339, with a "
                     "zone) the state at that moment (transaction time: as recorded then); both replay the event "
                     "store. `on` (a date, valid time) gives what was legally in force that day as known now: every "
                     "step whose legal date (`signed_on`, `terminated_on`, ...; the day it was recorded, in WIB, for a "
                     "step without one) is on or before it; with `as_of` or `version`, as known then. `version` is "
                     "then the last step it includes. 404 `version_not_found` past the head, 404 `not_yet_recorded` "
                     "before the cooperation existed, 404 `not_yet_in_force` when it was prepared after `on`.")
    async def get_one(
        self,
        request: Request,
        state: State,
        agreement_id: FromPath[UUID],
        version: Annotated[int | None, Parameter(ge=1, description="a past version")] = None,
        as_of: Annotated[
            datetime | None, Parameter(description="a moment, RFC 3339 with zone (transaction time)")
        ] = None,
        on: Annotated[date | None, Parameter(description="a day, YYYY-MM-DD: what was legally in force then "
                                                         "(valid time)")] = None,
    ) -> Response[AgreementRead]:
        if version is not None and as_of is not None:
            raise BadRequest("Pilih salah satu: version atau as_of.", code="invalid_parameter")
        if version is None and as_of is None and on is None:
            # The current state, as the projection rendered it, when it holds the latest version.
            stored = await state.agreements.current(identity_of(request).tenant, agreement_id)
            if stored is not None:
                etag = _etag(stored["version"])
                if request.headers.get("if-none-match") == etag["ETag"]:
                    return Response(None, status_code=304, headers=etag)  # type: ignore[arg-type]
                return Response(msgspec.Raw(stored["api"]), headers=etag)  # type: ignore[arg-type]
        registry: Registry = state.registry
        agreement = await anyio.to_thread.run_sync(
            partial(registry.get_agreement, identity_of(request), agreement_id, version=version, as_of=as_of, on=on)
        )
        if on is not None and version is None and as_of is None:
            # As known now: a step recorded later (with an earlier legal date) changes the answer.
            return Response(AgreementRead.from_aggregate(agreement), headers={"Cache-Control": "private, no-cache"})
        if version is not None or as_of is not None:
            # A past state replays stored events: say so when this agreement fails verification.
            warning = await anyio.to_thread.run_sync(state.audit.integrity_warning, agreement_id)
            if warning is not None:
                body = {**msgspec.to_builtins(AgreementRead.from_aggregate(agreement)), "integrity_warning": warning}
                return Response(body, headers={"X-KSD-Integrity": "failed",  # type: ignore[arg-type]
                                               "Cache-Control": "private, no-store"})
            return Response(
                AgreementRead.from_aggregate(agreement), headers={"Cache-Control": "private, max-age=86400"}
            )
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
        q: Annotated[str | None, Parameter(max_length=SEARCH_MAX, pattern=TEXT_PATTERN,
                                           description="words in title or object")] = None,
        signed_from: Annotated[date | None, Parameter(description="framework signed on or after")] = None,
        signed_to: Annotated[date | None, Parameter(description="framework signed on or before")] = None,
        expiring_from: Annotated[date | None, Parameter(description="a document in force ends on or after")] = None,
        expiring_to: Annotated[date | None, Parameter(description="a document in force ends on or before")] = None,
        limit: Annotated[int | None, Parameter(ge=1)] = None,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
        on: Annotated[date | None, Parameter(description="a day: each cooperation as legally in force then, as "
                                                         "known now; stage, signed_* and expiring_* judge that "
                                                         "state; a page may then hold fewer than `limit` "
                                                         "items")] = None,
    ) -> Response[AgreementPage]:
        settings = state.settings
        size = page_size(settings, limit)
        read_model: AgreementsReadModel = state.agreements
        flt = AgreementFilter(
            stage=stage or (),
            form=form or (),
            category=category,
            region=region,
            province=province,
            urusan=urusan,
            q=q,
            signed_from=signed_from,
            signed_to=signed_to,
            expiring_from=expiring_from,
            expiring_to=expiring_to,
        )
        tenant = identity_of(request).tenant
        if on is not None:
            page = await read_model.list(tenant, without_state_filters(flt), limit=size, cursor=cursor)
            registry: Registry = state.registry
            found = await anyio.to_thread.run_sync(registry.listed_on, [r["id"] for r in page.rows], on, flt)
            return Response(AgreementPage(items=[AgreementRead.from_aggregate(a) for a in found],
                                          next_cursor=page.next_cursor, limit=size))
        page = await read_model.list(tenant, flt, limit=size, cursor=cursor)
        stored = StoredAgreementPage(
            items=[msgspec.Raw(r["api"]) for r in page.rows], next_cursor=page.next_cursor, limit=size
        )
        return Response(stored)  # type: ignore[arg-type]  # the same JSON as an AgreementPage

    @get("/{agreement_id:uuid}/actions", operation_id="allowedActions",
         summary="The lifecycle actions the caller may take now (the buttons a client offers)",
         description="For the current version (`version`, also the ETag): each action with the documents it may "
                     "act on (`framework`, `pks-N`) and, for approvals, the `kinds` (`dprd`, `central`). A guide: "
                     "each action is still decided on its facts and may be refused by a rule of its own. Empty for "
                     "a caller who may only read (not a party, or no `operator` role).")
    async def allowed_actions(
        self, request: Request, state: State, agreement_id: AgreementId
    ) -> Response[AllowedActions]:
        registry: Registry = state.registry
        identity = identity_of(request)
        agreement = await anyio.to_thread.run_sync(registry.get_agreement, identity, agreement_id)
        steps = next_steps(agreement, identity.tenant, identity.roles)
        body = AllowedActions(version=agreement.version, actions=[
            AllowedAction(action=s.action, documents=list(s.documents), kinds=list(s.kinds),
                          attachment_kind=s.extra.get("kind")) for s in steps
        ])
        return Response(body, headers={**_etag(agreement.version), "Cache-Control": "private, no-cache"})

    # -- lifecycle actions (one per step; API.md "Actions") --------------------------------------

    @post("/{agreement_id:uuid}/actions/submit-offer", operation_id="submitOffer", status_code=200,
          summary="persiapan → penawaran: the offer letter (surat penawaran)",
          description=_doc("By the initiator. `direction: received` records a third party's offer."))
    async def submit_offer(self, request: Request, state: State, agreement_id: AgreementId,
                           data: JSONBody[SubmitOfferIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/record-offer-response", operation_id="recordOfferResponse",
          status_code=200, summary="penawaran → penyusunan_kesepakatan (all accepted) or dibatalkan (rejected)",
          description=_doc("A partner region records its own answer; the initiator records a non-region "
                           "partner's (`party`: its name). Codes: `counterpart_must_respond`, `already_responded`."))
    async def record_offer_response(
        self, request: Request, state: State, agreement_id: AgreementId, data: JSONBody[OfferResponseIn],
        if_match: IfMatch = None,
    ) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/request-approval", operation_id="requestApproval", status_code=200,
          summary="Ask the region's DPRD (or the central government) to approve a draft",
          description=_doc("`document`: `framework` (KSDPL/KSDLL: DPRD then central; SINERGI: DPRD when "
                           "burdening or unbudgeted) or a PKS (`pks-1`: DPRD of each party region when burdening "
                           "or unbudgeted; the PKS moves to `menunggu_persetujuan_dprd`). Each region asks its "
                           "own DPRD. Codes: `approval_not_required`, `approval_already_pending`, "
                           "`dprd_approval_required` (central before DPRD)."))
    async def request_approval(self, request: Request, state: State, agreement_id: AgreementId,
                               data: JSONBody[ApprovalRequestIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/record-approval", operation_id="recordApproval", status_code=200,
          summary="Record the DPRD's or the central government's decision",
          description=_doc("`dprd`: by the region's operator, on its own pending request (attach the DPRD's "
                           "letter with `attach-document`, kind `persetujuan_dprd`). `central` (KSDPL/KSDLL): by the "
                           "national level with role `approver`, on the region's request. A rejected PKS returns to "
                           "`penyusunan`. Codes: `approval_not_requested`, `date_before_request`, "
                           "`central_approval_recorded_by_national` (403)."))
    async def record_approval(self, request: Request, state: State, agreement_id: AgreementId,
                              data: JSONBody[ApprovalIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/sign-framework", operation_id="signFramework", status_code=200,
          summary="penyusunan_kesepakatan → kesepakatan_ditandatangani: KB, MoU/LoI or NK signed",
          description=_doc("Every party signs; regions by their kepala daerah only. SINERGI needs "
                           "`rencana_kerja`. Codes: `signatory_not_authorized`, `signatory_missing`, "
                           "`dprd_approval_required`, `central_approval_required`, `rencana_kerja_required`."))
    async def sign_framework(self, request: Request, state: State, agreement_id: AgreementId,
                             data: JSONBody[SignFrameworkIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/start-work-plan", operation_id="startWorkPlan", status_code=200,
          summary="SINERGI: kesepakatan_ditandatangani → pelaksanaan when the NK's rencana kerja starts",
          description=_doc("Other forms enter `pelaksanaan` by signing a PKS (code `pks_required`)."))
    async def start_work_plan(self, request: Request, state: State, agreement_id: AgreementId,
                              data: JSONBody[StartWorkPlanIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/draft-pks", operation_id="draftPks", status_code=200,
          summary="A new PKS in `penyusunan`, under the signed framework",
          description=_doc("Its id is `pks-N`. Codes: `framework_not_signed`, `pks_not_allowed_for_form`."))
    async def draft_pks(self, request: Request, state: State, agreement_id: AgreementId,
                        data: JSONBody[DraftPksIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/sign-pks", operation_id="signPks", status_code=200,
          summary="PKS → ditandatangani (the family → pelaksanaan)",
          description=_doc("Signed by the kepala daerah or an official with a surat kuasa. At most the "
                           "configured years (default 5) and within the framework's validity unless "
                           "`exception_reference`. Codes: `dprd_approval_required`, `duration_exceeds_limit`, "
                           "`pks_outside_framework_validity`, `date_out_of_order`, `surat_kuasa_required`, "
                           "`signatory_missing`."))
    async def sign_pks(self, request: Request, state: State, agreement_id: AgreementId,
                       data: JSONBody[SignPksIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/amend", operation_id="amend", status_code=200,
          summary="An addendum to a signed framework or PKS",
          description=_doc("Codes: `document_not_signed`, `document_not_in_force`, `reference_required`."))
    async def amend(self, request: Request, state: State, agreement_id: AgreementId,
                    data: JSONBody[AmendIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/extend", operation_id="extend", status_code=200,
          summary="An extension (perpanjangan) of a signed framework or PKS",
          description=_doc("Codes: `extension_not_later`, `duration_exceeds_limit` (a PKS's new term)."))
    async def extend(self, request: Request, state: State, agreement_id: AgreementId,
                     data: JSONBody[ExtendIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/terminate", operation_id="terminate", status_code=200,
          summary="End a PKS (berakhir or diputus) or the framework (the family → berakhir)",
          description=_doc("`masa_berlaku_habis` and `tujuan_tercapai` end a PKS as `berakhir`, other grounds "
                           "as `diputus`. The framework ends after every PKS (code `documents_still_open`)."))
    async def terminate(self, request: Request, state: State, agreement_id: AgreementId,
                        data: JSONBody[TerminateIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/cancel", operation_id="cancel", status_code=200,
          summary="Abandon the cooperation before its framework is signed (→ dibatalkan), or a PKS draft",
          description=_doc("Codes: `framework_already_signed`, `document_already_signed`."))
    async def cancel(self, request: Request, state: State, agreement_id: AgreementId,
                     data: JSONBody[CancelIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())

    @post("/{agreement_id:uuid}/actions/correct", operation_id="correct", status_code=200,
          summary="Correct (ralat) the facts a recorded step stated: a date, a number, a value, the signatories",
          description=_doc("`version`: the step's version in the history (or an earlier correction's); `changes`: "
                           "the corrected facts, named as that step recorded them; `reason`. Recorded as a new "
                           "event (`Corrected`) naming the version; the original stays in the history. Decided as "
                           "if the step had stated the corrected facts: a rule they break refuses it with that "
                           "rule's code (e.g. `date_out_of_order`, `pks_outside_framework_validity`). By an operator "
                           "of a party (a DPRD's decision: its region); the central decision's facts: the national "
                           "level with role `approver`. Codes: `field_not_recorded`, `step_not_correctable`, "
                           "`unknown_version`, `nothing_to_correct`, `reason_required`."))
    async def correct(self, request: Request, state: State, agreement_id: AgreementId,
                      data: JSONBody[CorrectIn], if_match: IfMatch = None) -> Response[AgreementRead]:
        return await _act(request, state, agreement_id, if_match, data.to_command())


@dataclass
class AttachmentForm:
    file: UploadFile
    kind: Label
    name: Name | None = None
    document: Label | None = None


class DocumentController(Controller):
    """Files of an agreement: attach (multipart) and download. `create_app` sets the body
    limit from `KSD_MAX_DOCUMENT_BYTES`."""

    path = "/agreements"
    tags = ["documents"]  # noqa: RUF012

    @post("/{agreement_id:uuid}/actions/attach-document", operation_id="attachDocument", status_code=200,
          summary="Attach a file (PDF or image) to the cooperation, a framework or a PKS",
          description=_doc("multipart/form-data: `file`, `kind` (e.g. `kesepakatan_bersama`, "
                           "`perjanjian_kerja_sama`, `persetujuan_dprd`, `studi_kelayakan`), optional `name` "
                           "and `document` (`framework` or `pks-N`). Stored by SHA-256; 413 when too large, "
                           "415 when not PDF/PNG/JPEG/WebP/TIFF."))
    async def attach(
        self, request: Request, state: State, agreement_id: AgreementId,
        data: Annotated[AttachmentForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        if_match: IfMatch = None,
    ) -> Response[AgreementRead]:
        registry: Registry = state.registry
        version = optional_version(if_match)  # None: 428 naming the current version, from the application
        document = (data.document or "").strip() or None
        if document is not None and not re.match(DOCUMENT_PATTERN, document):
            raise InvalidInput(
                "Data tidak valid.", errors=[{"field": "document", "message": "`framework` atau `pks-N`"}]
            )
        content = await data.file.read()
        agreement = await anyio.to_thread.run_sync(
            partial(
                registry.attach_document, identity_of(request), agreement_id, version, content=content,
                kind=data.kind.strip(), name=(data.name or check_text(data.file.filename, "file") or "").strip(),
                document=document,
            )
        )
        return Response(AgreementRead.from_aggregate(agreement), headers=_etag(agreement.version))

    @get("/{agreement_id:uuid}/documents/{sha256:str}", operation_id="downloadDocument",
         summary="Download an attached file (anyone who can see the agreement)", media_type="application/octet-stream",
         operation_class=file_operation(*ATTACHMENT_MEDIA_TYPES, description="The file, as attached."))
    async def download(
        self, request: Request, state: State, agreement_id: AgreementId, sha256: FromPath[str]
    ) -> Response[bytes]:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise BadRequest("Alamat dokumen tidak valid.", code="invalid_parameter")
        registry: Registry = state.registry
        found = await anyio.to_thread.run_sync(registry.download_document, identity_of(request), agreement_id, sha256)
        safe_name = re.sub(r'[^\w. -]', "_", found.name)[:150] or "dokumen"
        return Response(
            found.content,
            media_type=found.media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{safe_name}"',
                "ETag": f'"{found.sha256}"',
                "Cache-Control": "private, max-age=3600",
                "X-Content-Type-Options": "nosniff",
            },
        )
