"""Kerja sama: the tenant's list of agreements with every filter of `GET /agreements`
(`/kerja-sama`) and the form that starts one (`/kerja-sama/baru`, `POST /agreements`)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, get, post
from litestar.response import Redirect, Template

from services.web.client import ApiError
from services.web.format import typed_rupiah, urusan_label
from services.web.pages.common import api, as_list, form_data, form_errors, page
from services.web.pages.lookup import region_label, resolve_region, search_regions, search_urusan
from services.web.session import User
from shared import labels
from shared.periods import WIB
from shared.regions import load_regions
from shared.urusan import URUSAN, get_urusan
from shared.wire import NAME_MAX, SEARCH_MAX, TEXT_MAX

FORMS = list(labels.FORMS.items())
STAGES = list(labels.STAGES.items())
CATEGORIES = list(labels.CATEGORIES.items())
PAGE_SIZES = (20, 50, 100)
DEFAULT_LIMIT = 20
OTHER_PARTY_ROWS = 3
MAX_RUPIAH = 2**53 - 1
FIRST_PAGE = "-"  # the cursor of the first page, in the trail of pages visited

# Partner kinds by form (DOMAIN.md, "Forms of cooperation"): what the `type` select offers.
PARTNER_TYPES = [(code, text) for code, text in labels.PARTNER_TYPES.items()]
PARTNER_TYPES_BY_FORM = {
    "KSDPK": "perorangan, badan usaha, BUMN, BUMD, ormas, perguruan tinggi swasta",
    "KSDPL": "pemerintah daerah di luar negeri (wajib menyebut negara)",
    "KSDLL": "lembaga di luar negeri (wajib menyebut negara)",
    "SINERGI": "kementerian atau lembaga pemerintah nonkementerian",
}

# Rule violations name no field: the field a person changes to fix each one.
RULE_FIELDS = {
    "wajib_requires_adjacency": "category",
    "category_required": "category",
    "category_not_allowed": "category",
    "partner_required": "parties",
    "party_not_allowed_for_form": "parties",
    "duplicate_party": "parties",
    "urusan_required": "urusan",
    "negative_value": "value_idr",
    "date_in_future": "drafted_on",
    "date_too_early": "drafted_on",
}

# What the error summary calls each field (the form's labels).
FIELD_LABELS = {
    "form": "Bentuk kerja sama", "category": "Kategori", "title": "Judul", "object": "Objek kerja sama",
    "urusan": "Urusan pemerintahan", "parties": "Daerah mitra", "value_idr": "Nilai kerja sama",
    "drafted_on": "Tanggal persiapan", "burdens_community": "Membebani masyarakat",
    "budgeted_in_apbd": "Sudah dianggarkan", "initiator": "Daerah pemrakarsa",
    **{f"parties[{i}].{k}": f"{t} mitra {i + 1}" for i in range(3)
       for k, t in (("name", "Nama"), ("type", "Jenis"), ("country", "Negara"))},
}
# What the list's error summary calls each filter (the filter form's labels).
FILTER_LABELS = {
    "q": "Cari judul atau objek", "stage": "Tahap", "form": "Bentuk", "category": "Kategori (KSDD)",
    "region": "Daerah pihak", "province": "Provinsi", "urusan": "Urusan", "signed_from": "Ditandatangani sejak",
    "signed_to": "Ditandatangani sampai", "expiring_from": "Berakhir sejak", "expiring_to": "Berakhir sampai",
    "on": "Keadaan per tanggal", "limit": "Baris per halaman",
}
_INDEXED = re.compile(r"^(parties|urusan)\[(\d+)\](?:\.(\w+))?$")


# -- the list -----------------------------------------------------------------------------------


def _query(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The list's filters as typed (strings; stage and form repeated)."""
    params = request.query_params
    one = {k: (params.get(k) or "").strip() for k in (
        "q", "category", "region", "province", "urusan", "signed_from", "signed_to",
        "expiring_from", "expiring_to", "on", "limit", "cursor")}
    return {**one, "stage": [s for s in params.getall("stage", []) if s],
            "form": [f for f in params.getall("form", []) if f],
            "jejak": [t for t in params.getall("jejak", []) if t]}


def _api_params(filters: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """What `GET /agreements` gets; a region typed by name becomes its code."""
    out: dict[str, Any] = {k: filters[k] for k in (
        "q", "category", "province", "urusan", "signed_from", "signed_to", "expiring_from", "expiring_to", "on",
        "stage", "form", "cursor") if filters.get(k)}
    if filters["region"]:
        region = resolve_region(filters["region"])
        if region is None:
            errors["region"] = "Daerah tidak ditemukan: tulis nama (mis. Kota Bandung) atau kode (mis. 32.73)."
        else:
            out["region"] = region.code
    limit = int(filters["limit"]) if filters["limit"].isdigit() else DEFAULT_LIMIT
    out["limit"] = limit if 1 <= limit <= max(PAGE_SIZES) else DEFAULT_LIMIT
    return out


def _link(filters: dict[str, Any], *, cursor: str | None, trail: list[str]) -> str:
    keep = [(k, v) for k, v in filters.items() if k not in ("cursor", "jejak") and v]
    pairs: list[tuple[str, str]] = []
    for key, value in keep:
        pairs.extend((key, v) for v in (value if isinstance(value, list) else [value]))
    if cursor:
        pairs.append(("cursor", cursor))
    pairs.extend(("jejak", t) for t in trail)
    return "/kerja-sama" + ("?" + urlencode(pairs) if pairs else "")


def _paging(filters: dict[str, Any], next_cursor: str | None) -> dict[str, str | None]:
    """Links to the next and the previous page: the trail (`jejak`) holds the cursors of the
    pages before this one, so "Sebelumnya" goes back exactly one page."""
    trail = list(filters["jejak"])
    current = filters["cursor"] or FIRST_PAGE
    previous = None
    if trail:
        back = trail[-1]
        previous = _link(filters, cursor=None if back == FIRST_PAGE else back, trail=trail[:-1])
    return {
        "next": _link(filters, cursor=next_cursor, trail=[*trail, current]) if next_cursor else None,
        "previous": previous,
        "first": _link(filters, cursor=None, trail=[]) if filters["cursor"] else None,
        "number": str(len(trail) + 1),
    }


def party_names(agreement: dict[str, Any]) -> list[str]:
    catalog = load_regions()
    names = []
    for party in agreement.get("parties") or []:
        if party.get("kind") == "region":
            region = catalog.get(party.get("region") or "")
            names.append(region.display_name if region is not None else str(party.get("region")))
        else:
            names.append(str(party.get("name")))
    return names


@get("/kerja-sama")
async def agreement_list(request: Request[Any, Any, Any], user: User) -> Template:
    filters = _query(request)
    errors: dict[str, str] = {}
    params = _api_params(filters, errors)
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    if not errors:
        try:
            result = await api(request.app.state).get("registry", "/agreements", user.token, **params)
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            errors = form_errors(exc)
            if exc.code == "invalid_cursor":
                errors["_"] = "Tautan halaman ini sudah tidak berlaku; mulai lagi dari halaman pertama."
    rows = [{**a, "party_names": party_names(a)} for a in result.get("items") or []]
    context = {
        "rows": rows, "filters": filters, "errors": errors, "field_labels": FILTER_LABELS,
        "paging": _paging(filters, result.get("next_cursor")),
        "on": params.get("on"), "limit": params["limit"],
        "region_chosen": region_label(r) if filters["region"] and (r := resolve_region(filters["region"])) else None,
        "forms": FORMS, "stages": STAGES, "categories": CATEGORIES,
        "page_sizes": [(str(n), str(n)) for n in PAGE_SIZES],
        "provinces": [(p.code, p.display_name) for p in load_regions().provinces()],
        "urusan_options": [(u.code, urusan_label(u.code, u.name)) for u in URUSAN],
        "can_create": user.has("operator") and not user.is_national, "search_max": SEARCH_MAX,
    }
    htmx_fragment = (request.headers.get("hx-request") and request.headers.get("hx-target") == "hasil"
                     and not request.headers.get("hx-history-restore-request"))
    if htmx_fragment:
        return Template(template_name="kerja_sama/_hasil.html", context={"user": user, **context})
    return page("kerja_sama/daftar.html", user, request=request, **context)


# -- the form to start one -----------------------------------------------------------------------


def _forbidden(request: Request[Any, Any, Any], user: User) -> Template:
    return page("galat.html", user, request=request, status=403, title="Tidak berwenang",
                detail="Hanya operator daerah yang dapat memulai kerja sama baru.")


def _form_context(user: User, form: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    catalog = load_regions()
    chosen_regions = [c for c in as_list(form.get("parties")) if catalog.get(str(c)) is not None]
    chosen_urusan = [c for c in as_list(form.get("urusan")) if get_urusan(str(c)) is not None]
    region_q = str(form.get("cari_daerah") or "")
    urusan_q = str(form.get("cari_urusan") or "")
    region_matches = [r for r in search_regions(region_q) if r.code not in chosen_regions and r.code != user.tenant]
    urusan_matches = [u for u in search_urusan(urusan_q) if u.code not in chosen_urusan]
    return {
        "form": form, "errors": errors, "field_labels": FIELD_LABELS,
        "forms": FORMS, "categories": CATEGORIES, "partner_types": PARTNER_TYPES,
        "partner_types_by_form": PARTNER_TYPES_BY_FORM, "other_rows": range(OTHER_PARTY_ROWS),
        "regions": {
            "chosen": [(c, region_label(catalog.get(c))) for c in chosen_regions],  # type: ignore[arg-type]
            "matches": [(r.code, region_label(r)) for r in region_matches], "q": region_q, "options": False,
        },
        "urusan": {
            "chosen": [(c, urusan_label(c, get_urusan(c).name)) for c in chosen_urusan],  # type: ignore[union-attr]
            "matches": [(u.code, urusan_label(u.code, u.name)) for u in urusan_matches], "q": urusan_q,
        },
        "initiator": region_label(own) if (own := catalog.get(user.tenant)) else user.tenant,
        "today": datetime.now(WIB).date().isoformat(),
        "name_max": NAME_MAX, "text_max": TEXT_MAX, "max_rupiah": MAX_RUPIAH,
    }


def _body(form: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The `POST /agreements` body from the form, and for each party sent the form field it
    came from (to put the API's `parties[i]` problems next to the right control)."""
    body: dict[str, Any] = {
        "form": form.get("form") or None,
        "title": (form.get("title") or "").strip(),
        "object": (form.get("object") or "").strip(),
        "urusan": [str(u) for u in as_list(form.get("urusan"))],
    }
    parties: list[dict[str, Any]] = []
    sources: list[str] = []
    for i in range(OTHER_PARTY_ROWS):
        name = str(form.get(f"parties[{i}].name") or "").strip()
        kind = str(form.get(f"parties[{i}].type") or "").strip()
        country = str(form.get(f"parties[{i}].country") or "").strip()
        if name or kind or country:
            parties.append({k: v for k, v in (("name", name), ("type", kind), ("country", country)) if v})
            sources.append(f"parties[{i}]")
    for code in as_list(form.get("parties")):
        parties.append({"region": str(code)})
        sources.append("parties")
    body["parties"] = parties
    if form.get("category"):
        body["category"] = form["category"]
    if str(form.get("value_idr") or "").strip():
        body["value_idr"] = typed_rupiah(form["value_idr"])
    if form.get("drafted_on"):
        body["drafted_on"] = form["drafted_on"]
    body["burdens_community"] = bool(form.get("burdens_community"))
    body["budgeted_in_apbd"] = bool(form.get("budgeted_in_apbd"))
    return body, sources


def _field_errors(exc: ApiError, form: dict[str, Any], sources: list[str]) -> dict[str, str]:
    """The API's problem next to the form's controls: `parties[i]...` back to the row or the
    region picker it came from, a rule's `code` to the field that fixes it."""
    errors: dict[str, str] = {}
    for field, message in form_errors(exc).items():
        match = _INDEXED.match(field)
        if match and match.group(1) == "urusan":
            field = "urusan"
        elif match:
            index, sub = int(match.group(2)), match.group(3)
            source = sources[index] if index < len(sources) else "parties"
            field = source if source == "parties" else f"{source}.{sub or 'name'}"
            if sub == "region":
                field = "parties"
        errors.setdefault(field, message)
    others = [s for s in sources if s != "parties"]
    if exc.code == "party_not_allowed_for_form" and others and body_form(form) != "KSDD":
        errors.setdefault(f"{others[0]}.type", exc.detail)
    elif exc.code == "country_required":
        missing = next((s for s in sources if s != "parties" and not form.get(f"{s}.country")), None)
        errors.setdefault(f"{missing}.country" if missing else "parties", exc.detail)
    elif exc.code in RULE_FIELDS:
        errors.setdefault(RULE_FIELDS[exc.code], exc.detail)
    if exc.code and exc.code != "validation_failed" and len(errors) > 1:
        errors["_"] = "Periksa isian yang ditandai di bawah."
    return errors


def body_form(form: dict[str, Any]) -> str:
    return str(form.get("form") or "")


@get("/kerja-sama/baru")
async def new_agreement(request: Request[Any, Any, Any], user: User) -> Template:
    if not user.has("operator") or user.is_national:
        return _forbidden(request, user)
    form = {"form": request.query_params.get("form") or "", "_kunci": str(uuid.uuid4()), "budgeted_in_apbd": "1"}
    return page("kerja_sama/baru.html", user, request=request, **_form_context(user, form, {}))


@post("/kerja-sama/baru", status_code=303, media_type=MediaType.HTML)
async def create_agreement(request: Request[Any, Any, Any], user: User) -> Any:
    if not user.has("operator") or user.is_national:
        return _forbidden(request, user)
    form = await form_data(request)
    if form.get("_cari"):  # a picker's search without JavaScript: the same form, with the matches
        return page("kerja_sama/baru.html", user, request=request, status=200, **_form_context(user, form, {}))
    body, sources = _body(form)
    headers = {"Idempotency-Key": str(form["_kunci"])} if form.get("_kunci") else None
    try:
        created = await api(request.app.state).post("registry", "/agreements", user.token, body, headers=headers)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        errors = _field_errors(exc, form, sources)
        if exc.status == 409:  # this form was sent before (and created one) with other input
            form["_kunci"] = str(uuid.uuid4())
            errors = {"_": "Formulir ini sudah pernah dikirim dan kerja sama dari kiriman itu sudah dibuat. "
                           "Periksa daftar kerja sama; kirim lagi hanya bila memang ingin membuat kerja sama lain."}
        return page("kerja_sama/baru.html", user, request=request, status=422, **_form_context(user, form, errors))
    return Redirect(f"/kerja-sama/{created['id']}", status_code=303)


routes = [agreement_list, new_agreement, create_agreement]
