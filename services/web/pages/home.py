"""Beranda: what the signed-in user should look at first, by role. The national level sees the
national dashboard (charts and the map of Indonesia, each province drilling down to its
kab/kota: `/?provinsi=32`); a province its kab/kota with their report standing and alerts; a
region (and a province for its own agreements) its agreements needing action, its open alerts
and its report standing."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.response import Template

from services.web.pages import dashboards
from services.web.pages.common import api, page
from services.web.session import User
from shared.regions import load_regions


async def _nothing() -> None:
    return None


def _province_code(text: str | None) -> str | None:
    if not text:
        return None
    found = load_regions().get(text)
    return text if found is not None and found.kind == "provinsi" else None


@get("/")
async def beranda(request: Request[Any, Any, Any], state: State, user: User, provinsi: str | None = None) -> Template:
    client = api(state)
    if user.is_national:
        province = _province_code(provinsi)
        if provinsi and province is None:
            return page("beranda_nasional.html", user, request=request, status=404, missing=provinsi, dash=None)
        if province is not None:
            drill = await dashboards.province_drilldown(client, user, province)
            return page("beranda_provinsi_peta.html", user, request=request, province=province,
                        province_name=dashboards.province_name(province), drill=drill)
        dash = await dashboards.national_dashboard(client, user)
        return page("beranda_nasional.html", user, request=request, dash=dash, missing=None)
    period = dashboards.last_period(dashboards.today())
    consolidates = user.is_province and user.has("consolidator", "monitor")
    work, overview = await asyncio.gather(
        dashboards.region_work(client, user, period),
        dashboards.province_overview(client, user, period) if consolidates else _nothing(),
    )
    return page("beranda.html", user, request=request, period=period, work=work, overview=overview,
                kind_name=dashboards.kind_name, severity_name=dashboards.severity_name,
                severity_badge=dashboards.SEVERITY_BADGE)


routes = [beranda]
