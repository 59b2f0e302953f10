"""Beranda: what the signed-in user should look at first, by role."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from services.web.pages.common import page
from services.web.session import User


@get("/")
async def beranda(request: Request[Any, Any, Any], user: User) -> Template:
    return page("beranda.html", user, request=request)


routes = [beranda]
