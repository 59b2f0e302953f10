"""REST for the legacy import: the template and the import of a filled-in copy."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from services.registry.application import Registry
from services.registry.imports import import_file, template_xlsx
from shared.errors import BadRequest, InvalidInput
from shared.http import identity_of
from shared.openapi import file_operation
from shared.settings import Settings
from shared.wire import check_text

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportRow(msgspec.Struct):
    """One row of the file: `status` is `diimpor` (imported, or importable in a dry run),
    `sudah_ada` (already present: skipped) or `ditolak` (refused: `message` says why, `column`
    names the column, `code` the rule)."""

    row: int
    kind: Literal["kesepakatan", "pks"]
    reference: str | None
    status: Literal["diimpor", "sudah_ada", "ditolak"]
    message: str
    agreement_id: str | None = None
    events: int = 0
    column: str | None = None
    code: str | None = None


class ImportSummary(msgspec.Struct):
    rows: int
    imported: int
    skipped: int
    refused: int
    events: int  # events the imported rows imply
    saved_events: int  # events written (0 in a dry run)


class ImportReportOut(msgspec.Struct):
    file_name: str | None
    file_sha256: str
    dry_run: bool
    message: str
    summary: ImportSummary
    rows: list[ImportRow]


@dataclass
class ImportForm:
    file: UploadFile
    dry_run: Literal["true", "false", "1", "0"] | None = None


class ImportController(Controller):
    """`create_app` sets the body limit from `KSD_IMPORT_MAX_BYTES`."""

    path = "/imports"
    tags = ["imports"]  # noqa: RUF012

    @get("/template.xlsx", operation_id="downloadImportTemplate", media_type=XLSX,
         summary="The import template (XLSX): Indonesian headers, drop-downs and the 'Petunjuk' sheet",
         operation_class=file_operation(XLSX, description="The empty template."))
    async def template(self) -> Response[bytes]:
        content = await anyio.to_thread.run_sync(template_xlsx)
        return Response(content, media_type=XLSX, headers={
            "Content-Disposition": 'attachment; filename="templat-impor-kerja-sama.xlsx"',
            "Cache-Control": "private, max-age=3600",
        })

    @post("/", operation_id="importAgreements", status_code=200,
          summary="Import agreements from a filled-in template (XLSX or CSV); operator of a region",
          description="multipart/form-data: `file` (XLSX or CSV made from GET /imports/template.xlsx) and optional "
                      "`dry_run` (`true`: check only, store nothing; also accepted in the URL, `?dry_run=true`). "
                      "Every row becomes the events its history "
                      "implies, through the same lifecycle rules, marked as imported (`actor.imported`: the file's "
                      "SHA-256, the row, the importing officer). Answers a row-by-row report; rows already present "
                      "are skipped, so importing the same file again creates nothing. 422 `invalid_template` when "
                      "the file is not the template (whole file refused), `too_many_rows`; 413 when too large.")
    async def create(
        self, request: Request, state: State,
        data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        dry_run: Annotated[Literal["true", "false", "1", "0"] | None, Parameter(
            description="the same as the form field `dry_run` (either may say it; if both do, they must agree)",
        )] = None,
    ) -> ImportReportOut:
        registry: Registry = state.registry
        settings: Settings = state.import_settings
        if not isinstance(data.file, UploadFile):
            raise InvalidInput("Kirim berkas impor pada field 'file'.",
                               errors=[{"field": "file", "message": "berkas wajib"}])
        # A check asked for in the URL is a check: ignored, the file would have been imported.
        said = {value in ("true", "1") for value in (data.dry_run, dry_run) if value is not None}
        if len(said) > 1:
            raise BadRequest("dry_run pada URL dan pada formulir berbeda; sebutkan sekali saja.",
                             code="invalid_parameter")
        content = await data.file.read()
        name = check_text(data.file.filename, "file")
        report = await anyio.to_thread.run_sync(partial(
            import_file, registry, identity_of(request), content, name, dry_run=said == {True},
            max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows,
            batch_size=settings.import_batch_size,
        ))
        return msgspec.convert(report.as_dict(), ImportReportOut)
