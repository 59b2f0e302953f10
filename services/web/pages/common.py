"""What every page handler uses: render a page for the signed-in user, read a form, show the
API's problems next to the fields they name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.response import Template

from services.web.client import Api, ApiError
from services.web.session import User


def api(state: State) -> Api:
    return state.api


def nav_for(user: User | None) -> list[tuple[str, str]]:
    """The main menu: (path, label), by what the user's roles can do."""
    if user is None:
        return []
    items = [("/", "Beranda"), ("/kerja-sama", "Kerja sama")]
    if user.has("operator", "consolidator", "monitor"):
        items.append(("/laporan", "Laporan"))
    if user.has("consolidator") and user.is_province:
        items.append((f"/konsolidasi/{user.tenant}", "Konsolidasi"))
    if user.is_national and user.has("monitor", "auditor"):  # what GET /national/{period} admits
        items.append(("/nasional", "Nasional"))
    items.append(("/peringatan", "Peringatan"))
    items.append(("/analisis", "Analisis"))
    if user.has("auditor", "monitor"):
        items.append(("/audit", "Audit"))
    if user.has("operator"):
        items.append(("/impor", "Impor"))
    if user.has("admin"):
        items.append(("/profil", "Profil daerah"))
    return items


def page(template: str, user: User | None, *, status: int = 200, request: Request[Any, Any, Any] | None = None,
         **context: Any) -> Template:
    """A full page (or, for an htmx request asking a fragment, the same template: templates
    that have a fragment extend `base.html` and htmx selects with hx-select)."""
    path = request.url.path if request is not None else ""
    return Template(
        template_name=template,
        context={"user": user, "nav": nav_for(user), "current_path": path, **context},
        status_code=status,
    )


def form_errors(exc: ApiError) -> dict[str, str]:
    """Field -> message (Bahasa Indonesia) from a problem; `_` holds the problem's detail."""
    errors = exc.field_errors
    errors.setdefault("_", exc.detail)
    return errors


async def form_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The posted form as a dict; a repeated field becomes a list. The CSRF token is removed."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        if key == "_csrf_token":
            continue
        values = form.getall(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def as_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty form fields (the API's defaults apply to what a user left blank)."""
    return {k: v for k, v in data.items() if v not in (None, "", [])}
