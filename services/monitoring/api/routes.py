"""REST controllers of the monitoring service: parse, call one method, map the answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from services.monitoring.api.schemas import EvaluationIn, ProgressReportIn
from services.monitoring.application import AgreementFacts, Saved
from services.monitoring.domain.alerts import KIND_TITLES, Kind
from services.monitoring.domain.valid_time import past_day
from services.monitoring.readmodel import AlertFilter, evaluation_summary, report_summary
from shared.errors import NotFound
from shared.http import IfMatch, identity_of, optional_version, page_size
from shared.openapi import success_response
from shared.periods import local_date

SeverityName = Literal["info", "warning", "critical"]
# Valid time (DOMAIN.md, API.md "Two times"): a past day, answered as legally then, as known now;
# today or later is now. Malformed: 400 `invalid_parameter`.
OnDay = Annotated[date | None, Parameter(description="a day, YYYY-MM-DD: as legally on that day (valid time), as "
                                                     "known now; today or later: now")]
KindName = Literal[
    "kb_without_pks", "pks_without_progress", "expiring", "expired_still_active", "approval_pending",
    "no_neighbour_cooperation",
]


def _past(state: State, on: date | None) -> date | None:
    return past_day(on, local_date(state.clock.now()))


async def _facts(request: Request, state: State, agreement_id: UUID) -> AgreementFacts:
    facts = await state.monitoring_reads.facts(identity_of(request).tenant, agreement_id)
    if facts is None:
        raise NotFound("Kerja sama tidak ditemukan.")
    return facts


def _aggregate_body(aggregate: Any, kind: str) -> dict[str, Any]:
    body = {
        "id": str(aggregate.id),
        "agreement_id": aggregate.agreement_id,
        "period": aggregate.period,
        "version": aggregate.version,
        "content": aggregate.content,
        "created_at": aggregate.created_on.isoformat(),
        "updated_at": aggregate.modified_on.isoformat(),
        "corrections": aggregate.corrections,
    }
    if kind == "report":
        body |= {"region": aggregate.region, "filed_by": aggregate.filed_by}
    else:
        body |= {"evaluator": aggregate.evaluator, "recorded_by": aggregate.recorded_by}
    return body


async def _file(
    request: Request, state: State, agreement_id: UUID, data: ProgressReportIn | EvaluationIn, if_match: str | None,
    use_case: Callable[..., Saved], collection: str, kind: str,
) -> Response[dict[str, Any]]:
    """File a report or an evaluation (201), or correct it with `If-Match` (200)."""
    facts = await _facts(request, state, agreement_id)
    saved = await anyio.to_thread.run_sync(partial(
        use_case, identity_of(request), facts, period=data.period, content=data.content(),
        correction_reason=data.correction_reason, expected_version=optional_version(if_match),
    ))
    record = saved.aggregate
    headers = {"ETag": f'"{record.version}"', "Location": f"/agreements/{agreement_id}/{collection}/{record.id}"}
    return Response(_aggregate_body(record, kind), status_code=201 if saved.created else 200, headers=headers)


class ProgressController(Controller):
    path = "/agreements/{agreement_id:uuid}"
    tags = ["progress"]  # noqa: RUF012

    @post(
        "/progress-reports", operation_id="fileProgressReport", summary="File (or correct) a period's progress report",
        responses={200: success_response("A correction: the report's new version.")},
        description="An operator of a party region reports for its region. The first filing of a period answers 201; "
        "filing the same period again is a correction (a new version, history kept) and needs `If-Match` with the "
        "report's version: 428 without it, 409 when stale. 422 `framework_not_signed` before the framework is "
        "signed, `period_not_started` for a future period, `period_not_a_semester` for an annual period.",
    )
    async def file(
        self, request: Request, state: State, agreement_id: FromPath[UUID], data: JSONBody[ProgressReportIn],
        if_match: IfMatch = None,
    ) -> Response[dict[str, Any]]:
        return await _file(request, state, agreement_id, data, if_match, state.monitoring.file_progress_report,
                           "progress-reports", "report")

    @get("/progress-reports", operation_id="listProgressReports", summary="Progress reports of an agreement")
    async def list_reports(
        self, request: Request, state: State, agreement_id: FromPath[UUID],
        period: Annotated[str | None, Parameter(pattern=r"^\d{4}(-S[12])?$")] = None,
        region: Annotated[str | None, Parameter(pattern=r"^\d{2}(\.\d{2})?$")] = None,
        on: OnDay = None,
    ) -> dict[str, Any]:
        await _facts(request, state, agreement_id)
        rows = await state.monitoring_reads.reports(identity_of(request).tenant, agreement_id, period=period,
                                                    region=region, on=_past(state, on))
        return {"items": [report_summary(r) for r in rows]}

    @get("/progress-reports/{report_id:uuid}", operation_id="getProgressReport",
         summary="One progress report, now or at a version")
    async def get_report(
        self, request: Request, state: State, agreement_id: FromPath[UUID], report_id: FromPath[UUID],
        version: Annotated[int | None, Parameter(ge=1)] = None,
    ) -> Response[dict[str, Any]]:
        facts = await _facts(request, state, agreement_id)
        report = await anyio.to_thread.run_sync(partial(
            state.monitoring.get_progress_report, identity_of(request), facts, report_id, version))
        return Response(_aggregate_body(report, "report"), headers={"ETag": f'"{report.version}"'})

    @post(
        "/evaluations", operation_id="recordEvaluation", summary="Record (or correct) a monev evaluation",
        responses={200: success_response("A correction: the evaluation's new version.")},
        description="A monitor of the evaluating tenant: the province for cooperation among its own kab/kota, the "
        "national level for provinces' and cross-province cooperation (403 `not_the_evaluator` otherwise). One "
        "evaluation per period; recording the same period again is a correction and needs `If-Match`.",
    )
    async def evaluate(
        self, request: Request, state: State, agreement_id: FromPath[UUID], data: JSONBody[EvaluationIn],
        if_match: IfMatch = None,
    ) -> Response[dict[str, Any]]:
        return await _file(request, state, agreement_id, data, if_match, state.monitoring.record_evaluation,
                           "evaluations", "evaluation")

    @get("/evaluations", operation_id="listEvaluations", summary="Evaluations (monev) of an agreement")
    async def list_evaluations(
        self, request: Request, state: State, agreement_id: FromPath[UUID], on: OnDay = None,
    ) -> dict[str, Any]:
        await _facts(request, state, agreement_id)
        rows = await state.monitoring_reads.evaluations(identity_of(request).tenant, agreement_id,
                                                        on=_past(state, on))
        return {"items": [evaluation_summary(r) for r in rows]}

    @get(
        "/evaluations/{evaluation_id:uuid}", operation_id="getEvaluation", summary="One evaluation, now or at a version"
    )
    async def get_evaluation(
        self, request: Request, state: State, agreement_id: FromPath[UUID], evaluation_id: FromPath[UUID],
        version: Annotated[int | None, Parameter(ge=1)] = None,
    ) -> Response[dict[str, Any]]:
        facts = await _facts(request, state, agreement_id)
        evaluation = await anyio.to_thread.run_sync(partial(
            state.monitoring.get_evaluation, identity_of(request), facts, evaluation_id, version))
        return Response(_aggregate_body(evaluation, "evaluation"), headers={"ETag": f'"{evaluation.version}"'})

    @get("/status", operation_id="agreementStatus", summary="Health of an agreement",
         description="Stage, documents in force with days left, progress reports, the latest evaluation and the "
         "open alerts. `on` (a past day): as legally on that day: the stage then, the documents as they stood then, "
         "the reports filed and evaluations made by then, the alerts open then; 404 `not_yet_in_force` when the "
         "cooperation began after it.")
    async def status(
        self, request: Request, state: State, agreement_id: FromPath[UUID], on: OnDay = None,
    ) -> dict[str, Any]:
        today = local_date(state.clock.now())
        status = await state.monitoring_reads.status(identity_of(request).tenant, agreement_id, today,
                                                     on=past_day(on, today))
        if status is None:
            raise NotFound("Kerja sama tidak ditemukan.")
        return status


class AlertController(Controller):
    tags = ["alerts"]  # noqa: RUF012

    @get("/alerts", operation_id="listAlerts", summary="Alerts the caller's tenant may see",
         description="Open alerts by default (`state=cleared` or `all` for the others), newest first; filters "
         "`kind`, `severity` (this level or higher), `region`, `province`, `agreement`; cursor pagination. `on` (a "
         "past day): the alerts open on that day (their cause begun by then, not yet cleared by its end); with "
         "`state=cleared` those cleared by then, `all` those begun by then.")
    async def alerts(
        self, request: Request, state: State,
        kind: Annotated[KindName | None, Parameter(description="one alert kind")] = None,
        severity: Annotated[SeverityName | None, Parameter(description="this severity or higher")] = None,
        region: Annotated[str | None, Parameter(pattern=r"^\d{2}(\.\d{2})?$")] = None,
        province: Annotated[str | None, Parameter(pattern=r"^\d{2}$")] = None,
        agreement: Annotated[UUID | None, Parameter(description="one agreement")] = None,
        alert_state: Annotated[Literal["open", "cleared", "all"], QueryParameter(name="state")] = "open",
        limit: Annotated[int | None, Parameter(ge=1)] = None,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
        on: OnDay = None,
    ) -> dict[str, Any]:
        size = page_size(state.settings, limit)
        items, next_cursor = await state.monitoring_reads.alerts(
            identity_of(request).tenant,
            AlertFilter(kind=kind, severity=severity, region=region, province=province, agreement_id=agreement,
                        state=alert_state, on=_past(state, on)),
            limit=size, cursor=cursor,
        )
        return {"items": items, "next_cursor": next_cursor}

    @get("/alert-kinds", operation_id="alertKinds", summary="The alert kinds, their thresholds and availability")
    async def kinds(self, state: State) -> dict[str, Any]:
        s = state.settings
        regions = state.regions
        adjacency = bool(regions.adjacent_pairs())
        thresholds = {
            Kind.KB_WITHOUT_PKS: {"days": s.alert_kb_without_pks_days},
            Kind.PKS_WITHOUT_PROGRESS: {"period": "semester", "grace_days": s.alert_progress_grace_days},
            Kind.EXPIRING: {"days": list(s.expiring_thresholds)},
            Kind.EXPIRED_STILL_ACTIVE: {},
            Kind.APPROVAL_PENDING: {"days": s.alert_approval_pending_days},
            Kind.NO_NEIGHBOUR_COOPERATION: {"scope": s.alert_no_neighbour_scope},
        }
        return {"items": [
            {"kind": k.value, "title": KIND_TITLES[k], "thresholds": thresholds[k],
             "available": adjacency if k == Kind.NO_NEIGHBOUR_COOPERATION else True,
             **({"unavailable_reason": "data ketetanggaan wilayah belum tersedia"}
                if k == Kind.NO_NEIGHBOUR_COOPERATION and not adjacency else {})}
            for k in Kind
        ]}

    @get("/notifications", operation_id="listNotifications", summary="The caller's tenant's alert notifications",
         description="The outbox addressed to the caller's tenant, newest first, with each channel's delivery state.")
    async def notifications(
        self, request: Request, state: State, limit: Annotated[int | None, Parameter(ge=1)] = None,
        cursor: Annotated[str | None, Parameter(max_length=500)] = None,
    ) -> dict[str, Any]:
        size = page_size(state.settings, limit)
        rows, next_cursor = await state.monitoring_reads.notifications(identity_of(request).tenant, limit=size,
                                                                       cursor=cursor)
        items = [{"id": r["id"], "transition": r["transition"], "created_at": r["created_at"].isoformat(),
                  **r["payload"], "deliveries": r["deliveries"]} for r in rows]
        return {"items": items, "next_cursor": next_cursor}
