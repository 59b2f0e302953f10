"""REST controllers of the reporting service: parse, call one method, map the answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.datastructures import State
from litestar.params import Body, FromPath, JSONBody, Parameter

from services.reporting.api.schemas import (
    ConsolidationSubmit,
    ExportFormat,
    ProfileWrite,
    ReportCreate,
    ReportEdit,
    ReportSubmit,
)
from services.reporting.application import (
    Compiled,
    Profile,
    ReportText,
    check_consolidation_reader,
    check_national_reader,
    parse_period,
)
from services.reporting.documents import (
    LetterParts,
    consolidation_document,
    national_document,
    region_report_document,
)
from services.reporting.domain.compile import standing
from services.reporting.domain.profiles import NATIONAL as NATIONAL_PROFILE
from services.reporting.domain.profiles import ProfileFields
from services.reporting.domain.reports import Report, Status, Timeliness, check_period_open
from services.reporting.exports import FORMATS, Document, render
from services.reporting.readmodel import ReportFilter
from shared.application import check_expected_version
from shared.auth import Identity
from shared.errors import NotFound
from shared.http import IdempotencyKey, IfMatch, identity_of, optional_version, page_size
from shared.openapi import file_operation, problem_response, success_response
from shared.periods import Period, local_date

PeriodPath = Annotated[str, Parameter(pattern=r"^\d{4}(-S[12])?$", description="2026-S1, 2026-S2 or 2026")]
ProvincePath = Annotated[str, Parameter(pattern=r"^\d{2}$", description="province code, e.g. 32")]
Revision = Annotated[int | None, Parameter(ge=1, description="a submitted revision (frozen)")]
Live = Annotated[bool, Parameter(description="compile from the read models now, even after submission")]
Format = Annotated[ExportFormat, Parameter(description="xlsx, csv or pdf")]
Nomor = Annotated[str | None, Parameter(
    min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
    description="nomor surat as the secretariat gave it (e.g. 000.5.3/123/Pem/2026); without it the PDF "
                "carries a draft number from the region's profile pattern")]
ProfileTenant = Annotated[str, Parameter(pattern=r"^(\d{2}(\.\d{2})?|national)$",
                                         description="a region code (32, 32.73) or `national`")]

# What the OpenAPI says beyond what `shared.openapi` reads off each handler.
EXPORT = file_operation(*(media.partition(";")[0] for media in FORMATS.values()),
                        description="The document, in the `format` asked for.")
PERIOD_PROBLEMS = {422: problem_response(422, "The period is not one collected (`period_kind_not_collected`), has "
                                              "not started (`period_not_started`) or does not exist.")}


def _today(state: State) -> Any:
    return local_date(state.clock.now())


def _period(state: State, text: str) -> Period:
    period = parse_period(text)
    check_period_open(period, _today(state), state.settings.report_periods)
    return period


def _submission(s: dict[str, Any]) -> dict[str, Any]:
    keys = ("revision", "version", "submitted_at", "submitted_on", "deadline", "on_time", "reason")
    return {**{k: s[k] for k in keys}, "by": {"sub": s["by"].get("sub"), "tenant": s["by"].get("tenant")}}


async def _body(
    report: Report | None, *, revision: int | None, live: bool, deadline: date, compile_now: Callable[[], Any],
) -> dict[str, Any]:
    """A report or consolidation as the API shows it. A submitted revision is shown exactly as
    it was sent: its figures, their sources, its text and the deadline it was judged by. A
    draft, or `live`, is compiled from the read models now, with the text as it stands."""
    submissions = report.submissions if report is not None else []
    if revision is not None and revision > len(submissions):
        raise NotFound(f"Revisi {revision} belum pernah disampaikan.", code="revision_not_found")
    shown = revision or (len(submissions) if submissions and not live else None)
    if shown:
        chosen = submissions[shown - 1]
        content, sources, source = chosen["content"], chosen["sources"], "submitted"
        text = {k: chosen[k] for k in ("narrative", "obstacles", "follow_up", "deadline")}
    else:
        compiled: Compiled = await compile_now()
        content, sources, source = compiled.content, compiled.sources, "live"
        text = {"narrative": report.narrative if report else "", "obstacles": report.obstacles if report else None,
                "follow_up": report.follow_up if report else None, "deadline": deadline.isoformat()}
    return {
        "id": str(report.id) if report else None,
        "status": (report.status if report else Status.DRAF).value,
        "timeliness": (report.timeliness if report else Timeliness.BELUM_MENYAMPAIKAN).value,
        "version": report.version if report else None,
        "revision": report.revision if report else 0,
        **text,
        "created_at": report.created_on.isoformat() if report else None,
        "updated_at": report.modified_on.isoformat() if report else None,
        "submissions": [_submission(s) for s in submissions],
        "content_source": source,
        "content_revision": shown,
        "sources": sources,
        "content": content,
    }


async def _region_report_body(
    state: State, identity: Identity, report: Any, *, revision: int | None = None, live: bool = False
) -> dict[str, Any]:
    period = Period.parse(report.period)
    body = await _body(report, revision=revision, live=live, deadline=period.due(state.settings.report_deadline_days),
                       compile_now=partial(state.compiler.region_report, identity.tenant, report.region, period,
                                           _today(state)))
    return {"region": body["content"]["region"], "period": report.period, **body}


async def _consolidation_body(
    state: State, identity: Identity, province: str, period: Period, *, revision: int | None = None,
    live: bool = False,
) -> dict[str, Any]:
    consolidation = await anyio.to_thread.run_sync(state.reporting.get_consolidation, identity, province, period)
    body = await _body(consolidation, revision=revision, live=live,
                       deadline=period.due(state.settings.consolidation_deadline_days),
                       compile_now=partial(state.compiler.consolidation, identity.tenant, province, period,
                                           _today(state)))
    return {"province": body["content"]["province"], "period": str(period), **body}


def _with_etag(body: dict[str, Any], status: int = 200) -> Response[dict[str, Any]]:
    headers = {"ETag": f'"{body["version"]}"'} if body.get("version") else {}
    return Response(body, status_code=status, headers=headers)


def _replayed(body: dict[str, Any], status: int = 200) -> Response[dict[str, Any]]:
    response = _with_etag(body, status)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _version(report: Any, if_match: str | None) -> int:
    """The `If-Match` version of a change to `report`; without it, 428 naming its current version."""
    version = optional_version(if_match)
    if version is None:
        check_expected_version(report.version, None, f"Laporan {report.region} {report.period}")
    assert version is not None  # noqa: S101 - narrows the type; never checks input
    return version


def _export(document: Document, fmt: str) -> Response[bytes]:
    exported = render(document, fmt)
    # Litestar appends `; charset=utf-8` to every text/* media type itself: give it the bare
    # type, or CSV goes out as `text/csv; charset=utf-8; charset=utf-8`.
    media_type, _, _ = exported.media_type.partition(";")
    return Response(
        exported.content, media_type=media_type.strip(),
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


async def _letter_parts(state: State, tenant: str, nomor: str | None, parent: str | None = None) -> LetterParts:
    """The sender's profile (and the addressee's, for a kab/kota writing to its province)."""
    own = await anyio.to_thread.run_sync(state.reporting.profile, tenant)
    above = await anyio.to_thread.run_sync(state.reporting.profile, parent) if parent else None
    return LetterParts(profile=own.fields, parent=above.fields if above else None, number=nomor)


def _text(report: Any, edit: ReportEdit) -> ReportText:
    def pick(value: Any, current: Any) -> Any:
        return current if value is msgspec.UNSET else value

    return ReportText(narrative=pick(edit.narrative, report.narrative),
                      obstacles=pick(edit.obstacles, report.obstacles),
                      follow_up=pick(edit.follow_up, report.follow_up))


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]  # noqa: RUF012

    @post("", operation_id="draftReport", summary="Start the caller's region's report for a period",
          responses={200: success_response("The same request again: the report as it is."),
                     409: problem_response(409, "`report_exists`: another text for an existing report."),
                     **PERIOD_PROBLEMS},
          description="An operator of a region (a kab/kota, or a province for its own agreements). The report is "
          "compiled from the read models: every agreement the region is party to that was alive during the period, "
          "with its stage, documents, progress and realisation, evaluations and alerts. 201 with the draft; the same "
          "request again answers 200 with the report as it is; another text for an existing report is 409 "
          "`report_exists` (edit it with PATCH). 422 `period_kind_not_collected`, `period_not_started`.")
    async def draft(self, request: Request, state: State, data: JSONBody[ReportCreate]) -> Response[dict[str, Any]]:
        identity = identity_of(request)
        saved = await anyio.to_thread.run_sync(partial(
            state.reporting.draft_report, identity, data.period,
            ReportText(narrative=data.narrative, obstacles=data.obstacles, follow_up=data.follow_up)))
        body = await _region_report_body(state, identity, saved.report)
        response = _with_etag(body, 201 if saved.created else 200)
        response.headers["Location"] = f"/reports/{body['id']}"
        return response

    @get("", operation_id="listReports", summary="Region reports the caller may see",
         description="Newest first; filters `period`, `region`, `province`, `submitted`; cursor pagination. "
         "A row shows the report's standing and the figures of its latest submission.")
    async def list_reports(
        self, request: Request, state: State,
        period: Annotated[str | None, Parameter(pattern=r"^\d{4}(-S[12])?$")] = None,
        region: Annotated[str | None, Parameter(pattern=r"^\d{2}(\.\d{2})?$")] = None,
        province: Annotated[str | None, Parameter(pattern=r"^\d{2}$")] = None,
        submitted: Annotated[bool | None, Parameter(description="only submitted (or only draft) reports")] = None,
        limit: Annotated[int | None, Parameter(ge=1)] = None,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
    ) -> dict[str, Any]:
        rows, next_cursor = await state.reporting_reads.reports(
            identity_of(request).tenant,
            ReportFilter(period=period, region=region, province=province, submitted=submitted),
            limit=page_size(state.settings, limit), cursor=cursor)
        return {"items": [report_row(r) for r in rows], "next_cursor": next_cursor}

    @get("/{report_id:uuid}", operation_id="getReport", summary="One region report",
         description="A submitted report shows its latest revision exactly as it was submitted; `revision=N` shows "
         "an earlier one; `live=true` compiles it from the read models now (what a new revision would contain). A "
         "draft is always compiled now.")
    async def get_report(
        self, request: Request, state: State, report_id: FromPath[UUID], revision: Revision = None, live: Live = False,
    ) -> Response[dict[str, Any]]:
        identity = identity_of(request)
        report = await anyio.to_thread.run_sync(state.reporting.get_report, identity, report_id)
        return _with_etag(await _region_report_body(state, identity, report, revision=revision, live=live))

    @patch("/{report_id:uuid}", operation_id="editReport", summary="Edit the report's narrative, obstacles, follow-up",
           description="The region's operator, with `If-Match` (428 without it, 409 when stale).")
    async def edit(
        self, request: Request, state: State, report_id: FromPath[UUID], data: JSONBody[ReportEdit],
        if_match: IfMatch = None,
    ) -> Response[dict[str, Any]]:
        identity = identity_of(request)
        current = await anyio.to_thread.run_sync(state.reporting.get_report, identity, report_id)
        version = _version(current, if_match)
        report = await anyio.to_thread.run_sync(
            state.reporting.edit_report, identity, report_id, _text(current, data), version)
        return _with_etag(await _region_report_body(state, identity, report))

    @post("/{report_id:uuid}/submit", operation_id="submitReport", summary="Submit the report up the chain",
          status_code=200,
          description="Compiles the report now and freezes it as the next revision, with the read models' positions "
          "(`sources`); later changes to the agreements never alter it. It first waits for the read model to hold "
          "every recorded event (503 `read_model_behind` after `KSD_REPORT_FRESH_WAIT_SECONDS`). `If-Match` "
          "required. 422 `period_not_ended`, `narrative_required`, `revision_reason_required` (a second submission "
          "says why). Whether it is on time is decided now, against `KSD_REPORT_DEADLINE_DAYS` after the period. A "
          "retry with the same `Idempotency-Key` and body answers as the first time and records nothing.")
    async def submit(
        self, request: Request, state: State, report_id: FromPath[UUID], if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None, data: Annotated[ReportSubmit | None, Body()] = None,
    ) -> Response[dict[str, Any]]:
        identity = identity_of(request)
        reason = data.reason if data else None
        current = await anyio.to_thread.run_sync(state.reporting.report_to_submit, identity, report_id)
        if current.is_retry(idempotency_key, reason, None):
            return _replayed(await _region_report_body(state, identity, current))
        version = _version(current, if_match)
        compiled = await state.compiler.region_report(
            identity.tenant, current.region, Period.parse(current.period), _today(state), fresh=True)
        report = await anyio.to_thread.run_sync(partial(
            state.reporting.submit_report, identity, report_id, compiled, version, reason=reason,
            request_key=idempotency_key))
        return _with_etag(await _region_report_body(state, identity, report))

    @get("/{report_id:uuid}/export", operation_id="exportReport", summary="The report as XLSX, CSV or PDF",
         operation_class=EXPORT,
         description="In Bahasa Indonesia, laid out for printing. Same `revision` and `live` as the report itself.")
    async def export(
        self, request: Request, state: State, report_id: FromPath[UUID], format: Format = "xlsx",  # noqa: A002
        revision: Revision = None, live: Live = False, nomor: Nomor = None,
    ) -> Response[bytes]:
        identity = identity_of(request)
        report = await anyio.to_thread.run_sync(state.reporting.get_report, identity, report_id)
        body = await _region_report_body(state, identity, report, revision=revision, live=live)
        region = body["content"]["region"]
        parts = await _letter_parts(state, region["code"], nomor,
                                    region["province"] if region["kind"] != "provinsi" else None)
        return _export(region_report_document(body, _today(state), parts), format)


class ConsolidationController(Controller):
    path = "/consolidations/{province:str}/{period:str}"
    tags = ["consolidations"]  # noqa: RUF012

    @get("", operation_id="getConsolidation", summary="A province's consolidation for a period",
         responses=PERIOD_PROBLEMS,
         description="Every autonomous kab/kota of the province with its report's standing (`tepat_waktu`, "
         "`terlambat`, `belum_menyampaikan`) and figures, totals, the province-wide figures and the province's own "
         "agreements. Compiled now until submitted; then the submitted revision (`live=true` for now, `revision=N` "
         "for an earlier one). The province's consolidator or monitor, or the national level.")
    async def get_consolidation(
        self, request: Request, state: State, province: ProvincePath, period: PeriodPath, revision: Revision = None,
        live: Live = False,
    ) -> Response[dict[str, Any]]:
        identity = identity_of(request)
        check_consolidation_reader(identity, province)
        return _with_etag(await _consolidation_body(state, identity, province, _period(state, period),
                                                    revision=revision, live=live))

    @post("/submit", operation_id="submitConsolidation", summary="Send the consolidation to the ministry",
          responses={200: success_response("A later revision (or a retry of one)."),
                     **PERIOD_PROBLEMS},
          description="The province's consolidator. Allowed with kab/kota missing: they stay listed as "
          "`belum_menyampaikan`. The first submission answers 201; a later one is a new revision and needs `If-Match` "
          "and a `reason`. Like a report, it waits for the read model first (503 `read_model_behind`), and a retry "
          "with the same `Idempotency-Key` and body answers as the first time.")
    async def submit(
        self, request: Request, state: State, province: ProvincePath, period: PeriodPath, if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None, data: Annotated[ConsolidationSubmit | None, Body()] = None,
    ) -> Response[dict[str, Any]]:
        identity = identity_of(request)
        parsed = _period(state, period)
        reason, narrative = (data.reason, data.narrative) if data else (None, None)
        current = await anyio.to_thread.run_sync(state.reporting.consolidation_to_submit, identity, province, parsed)
        if current is not None and current.is_retry(idempotency_key, reason, narrative):
            return _replayed(await _consolidation_body(state, identity, province, parsed),
                             201 if current.revision == 1 else 200)
        compiled = await state.compiler.consolidation(identity.tenant, province, parsed, _today(state), fresh=True)
        saved = await anyio.to_thread.run_sync(partial(
            state.reporting.submit_consolidation, identity, province, parsed, compiled,
            expected_version=optional_version(if_match), narrative=narrative, reason=reason,
            request_key=idempotency_key))
        body = await _consolidation_body(state, identity, province, parsed)
        return _with_etag(body, 201 if saved.created else 200)

    @get("/export", operation_id="exportConsolidation", summary="The consolidation as XLSX, CSV or PDF",
         operation_class=EXPORT, responses=PERIOD_PROBLEMS)
    async def export(
        self, request: Request, state: State, province: ProvincePath, period: PeriodPath,
        format: Format = "xlsx", revision: Revision = None, live: Live = False,  # noqa: A002
        nomor: Nomor = None,
    ) -> Response[bytes]:
        identity = identity_of(request)
        check_consolidation_reader(identity, province)
        parsed = _period(state, period)
        body = await _consolidation_body(state, identity, province, parsed, revision=revision, live=live)
        counted = {r["code"]: r["revision"] for r in body["content"]["regions"] if r["revision"]}
        contents = await anyio.to_thread.run_sync(state.reporting.submitted_contents, parsed, counted)
        parts = await _letter_parts(state, province, nomor)
        return _export(consolidation_document(body, _today(state), parts, contents), format)


class NationalController(Controller):
    path = "/national/{period:str}"
    tags = ["national"]  # noqa: RUF012

    @get("", operation_id="getNationalRollUp", summary="The national roll-up for a period",
         responses=PERIOD_PROBLEMS,
         description="All 38 provinces: their kab/kota's completeness, their own report and their consolidation; "
         "national completeness; agreements alive in the period by form, stage and urusan; regions that have never "
         "submitted a report. The national level's monitors and auditors.")
    async def national(self, request: Request, state: State, period: PeriodPath) -> dict[str, Any]:
        identity = identity_of(request)
        check_national_reader(identity)
        compiled = await state.compiler.national(identity.tenant, _period(state, period), _today(state))
        return {"period": period, "sources": compiled.sources, "content": compiled.content}

    @get("/export", operation_id="exportNationalRollUp", summary="The national roll-up as XLSX, CSV or PDF",
         operation_class=EXPORT, responses=PERIOD_PROBLEMS)
    async def export(
        self, request: Request, state: State, period: PeriodPath, format: Format = "xlsx",  # noqa: A002
        nomor: Nomor = None,
    ) -> Response[bytes]:
        identity = identity_of(request)
        check_national_reader(identity)
        compiled = await state.compiler.national(identity.tenant, _period(state, period), _today(state))
        parts = await _letter_parts(state, NATIONAL_PROFILE, nomor)
        return _export(national_document(compiled.content, _today(state), parts), format)


def profile_body(profile: Profile) -> dict[str, Any]:
    f = profile.fields
    return {
        "region": profile.tenant, "configured": profile.configured, "version": profile.version,
        "updated_at": profile.updated_at, "government_name": f.government_name,
        "address_lines": list(f.address_lines), "phone": f.phone, "email": f.email, "website": f.website,
        "city": f.city, "signatory_name": f.signatory_name, "signatory_title": f.signatory_title,
        "signatory_is_civil_servant": f.signatory_is_civil_servant, "nip": f.nip, "rank": f.rank,
        "letter_number_pattern": f.letter_number_pattern, "addressee": list(f.addressee),
    }


class ProfileController(Controller):
    """A region's letter profile: the kop surat, the signatory and the nomor surat pattern every
    exported PDF is printed with. Kept by the region's own `admin`."""

    path = "/profiles/{region:str}"
    tags = ["profiles"]  # noqa: RUF012

    @get("", operation_id="getRegionProfile", summary="A region's letter profile",
         description="Readable by the region, its province and the national level (404 for others, and for a "
         "code that is no autonomous region). Before the region's admin has saved one: a default derived from the "
         "region's name and kind (`Pemerintah Kota Bandung`, signed by `Wali Kota Bandung`, no NIP) with "
         "`configured: false` and `version: null`. `national`: the Direktorat Jenderal Bina Administrasi "
         "Kewilayahan's profile for the national roll-up.")
    async def get_profile(self, request: Request, state: State, region: ProfileTenant) -> Response[dict[str, Any]]:
        profile = await anyio.to_thread.run_sync(state.reporting.read_profile, identity_of(request), region)
        return _with_etag(profile_body(profile))

    @put("", operation_id="putRegionProfile", summary="Set the region's letter profile",
         responses={403: problem_response(403, "`role_required` (not an admin) or `not_the_region`."),
                    409: problem_response(409, "`version_conflict`: `version` is not the current one."),
                    422: problem_response(422, "`nip_not_for_elected_official`, `rank_not_for_elected_official`, "
                                               "`nip_invalid`, `letter_number_pattern_invalid`, or a field rule.")},
         description="The region's own `admin` (403 for any other role or tenant). The whole profile: fields left "
         "out take their empty value. `version` (or `If-Match`): the version read (absent or 0 for the first save; "
         "428 when absent on a later one; 409 when stale). A NIP (18 digits) and a rank only when "
         "`signatory_is_civil_servant`: an "
         "elected bupati, wali kota or gubernur has none (422 `nip_not_for_elected_official`). "
         "`letter_number_pattern` holds `{nomor}` (the running number, dots in a draft) and may hold `{tahun}`.")
    async def put_profile(
        self, request: Request, state: State, region: ProfileTenant, data: JSONBody[ProfileWrite],
        if_match: IfMatch = None,
    ) -> Response[dict[str, Any]]:
        fields = ProfileFields(
            government_name=data.government_name, address_lines=tuple(data.address_lines), phone=data.phone,
            email=data.email, website=data.website, city=data.city, signatory_name=data.signatory_name,
            signatory_title=data.signatory_title, signatory_is_civil_servant=data.signatory_is_civil_servant,
            nip=data.nip, rank=data.rank, letter_number_pattern=data.letter_number_pattern,
            addressee=tuple(data.addressee),
        )
        profile = await anyio.to_thread.run_sync(
            state.reporting.save_profile, identity_of(request), region, fields,
            data.version if data.version is not None else optional_version(if_match))
        return _with_etag(profile_body(profile))


def report_row(row: dict[str, Any]) -> dict[str, Any]:
    """A report as a listing shows it: its standing and the figures of its latest submission."""
    timeliness = standing(row)
    return {
        "id": str(row["id"]),
        "region": row["subject"],
        "province": row["province"],
        "period": row["period"],
        "status": (Status.DISAMPAIKAN if row["revision"] else Status.DRAF).value,
        "timeliness": timeliness["status"],
        "revision": row["revision"],
        "first_submitted_on": timeliness["first_submitted_on"],
        "last_submitted_on": timeliness["last_submitted_on"],
        "version": row["version"],
        "summary": row["summary"],
        "updated_at": row["updated_at"].isoformat(),
    }
