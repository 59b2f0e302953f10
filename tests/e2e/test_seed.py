"""`ksd seed --scale small`: a realistic, reproducible dataset built through the services'
applications, on a database of the test server, projected by the read models."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient
from typer.testing import CliRunner

from services.ksd.cli import app as cli
from services.ksd.cli import migrate_all
from services.ksd.seed import SCALES, TOPICS, URUSAN, Seeder
from services.registry.app import create_app as create_registry
from services.reporting.app import create_app as create_reporting
from services.reporting.setup import feed_lag
from services.reporting.worker import make_runners, run_for
from shared.regions import load_regions
from shared.urusan import get_urusan
from tests.conftest import fresh_database

SEED = 7


# This module's own database: thousands of seeded events would slow every later module's
# projection catch-up on the run's shared database. conftest's `projection` follows it.
@pytest.fixture(scope="module")
def migrated_url(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, prefix="ksd_seed") as url:
        migrate_all(url)
        yield url


@pytest.fixture(scope="module")
def seeded(migrated_url: str) -> dict[str, Any]:
    """`ksd seed --scale small --seed 7`, as a person runs it; its printed summary."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", migrated_url)
        result = CliRunner().invoke(cli, ["seed", "--scale", "small", "--seed", str(SEED)])
    assert result.exit_code == 0, result.output
    digest = re.search(r"digest ([0-9a-f]{64})", result.output)
    assert digest, result.output
    return {"output": result.output, "digest": digest.group(1)}


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _events(url: str) -> dict[str, int]:
    return {s: _rows(url, f"SELECT count(*) FROM {s}.{s}_events")[0][0]  # fixed names
            for s in ("registry", "monitoring", "reporting")}


def test_the_small_seed_stores_every_form_in_plausible_shares_with_lifecycles_and_reports(
    seeded: dict[str, Any], migrated_url: str
) -> None:
    events = _events(migrated_url)
    assert events["registry"] > 5 * SCALES["small"], events
    assert events["monitoring"] > SCALES["small"], events  # progress reports and evaluations
    assert events["reporting"] > 500, events  # region reports
    assert "peristiwa/detik" in seeded["output"]
    assert "ditolak" not in seeded["output"]  # no step refused by the lifecycle's rules
    topics = dict(_rows(migrated_url, "SELECT split_part(topic, '.', -1), count(*) FROM registry.registry_events "
                                      "GROUP BY 1"))
    for step in ("Started", "OfferSubmitted", "ApprovalRecorded", "FrameworkSigned", "PksSigned", "Amended",
                 "Extended", "Terminated", "Cancelled"):
        assert topics.get(step, 0) > 0, (step, topics)


def test_the_read_model_projects_the_seeded_families_every_form_and_every_autonomous_region(
    seeded: dict[str, Any], migrated_url: str, projection
) -> None:
    projection(timeout=120)
    forms = dict(_rows(migrated_url, "SELECT form, count(*) FROM registry.agreements GROUP BY form"))
    assert sum(forms.values()) == SCALES["small"]
    assert set(forms) == {"KSDD", "KSDPK", "KSDPL", "KSDLL", "SINERGI"}
    # Mostly between regions and with third parties; foreign cooperation and SINERGI fewer.
    assert forms["KSDD"] + forms["KSDPK"] > 0.7 * SCALES["small"], forms
    assert all(forms[f] < forms["KSDPK"] for f in ("KSDPL", "KSDLL", "SINERGI")), forms
    for form, count in forms.items():
        assert f"{form} {count:,}" in seeded["output"]
    regions = load_regions()
    autonomous = {r.code for r in regions.all() if regions.is_party_eligible(r.code)}
    initiators = {r[0] for r in _rows(migrated_url, "SELECT DISTINCT initiator FROM registry.agreements")}
    assert initiators == autonomous  # every autonomous region active; DKI's kota administrasi never
    stages = {r[0] for r in _rows(migrated_url, "SELECT DISTINCT stage FROM registry.agreements")}
    assert {"persiapan", "penawaran", "kesepakatan_ditandatangani", "pelaksanaan", "berakhir", "dibatalkan"} <= stages
    # Legal dates over 2023-2026, in the law's order (the aggregate refused anything else).
    first, last = _rows(migrated_url, "SELECT min(framework_signed_on), max(framework_signed_on) "
                                      "FROM registry.agreements")[0]
    assert first.year == 2023 and last.year == 2026
    wajib = _rows(migrated_url, "SELECT party_regions FROM registry.agreements WHERE category = 'wajib'")
    assert wajib and all(len(p) == 2 and (regions.are_adjacent(*p) or p[1].startswith(p[0] + ".")
                                          or p[0].startswith(p[1] + ".")) for (p,) in wajib)


def test_a_seeded_agreement_reads_through_http_like_any_other(
    seeded: dict[str, Any], migrated_url: str, projection, settings, token
) -> None:
    projection(timeout=120)
    agreement_id, initiator, stage = _rows(
        migrated_url, "SELECT id, initiator, stage FROM registry.agreements WHERE stage = 'berakhir' LIMIT 1")[0]
    with TestClient(create_registry(settings, database_url=migrated_url), raise_server_exceptions=False) as client:
        response = client.get(f"/agreements/{agreement_id}", headers=token(initiator))
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == stage


def test_the_same_seed_gives_the_same_dataset_and_seeding_again_adds_nothing(
    seeded: dict[str, Any], migrated_url: str
) -> None:
    again = Seeder(seed=SEED, scale="small").run()  # generated only, nothing saved
    assert again.digest == seeded["digest"]
    assert Seeder(seed=SEED + 1, scale="small").run().digest != seeded["digest"]
    before = _events(migrated_url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", migrated_url)
        result = CliRunner().invoke(cli, ["seed", "--scale", "small", "--seed", str(SEED)])
    assert result.exit_code == 0, result.output
    assert f"({SCALES['small']} sudah ada), 0 peristiwa" in result.output
    assert _events(migrated_url) == before


def test_an_unknown_scale_is_refused() -> None:
    result = CliRunner().invoke(cli, ["seed", "--scale", "huge"])
    assert result.exit_code == 2
    assert "Skala tidak dikenal" in result.output


def test_every_urusan_the_seed_can_use_is_in_the_reference_list() -> None:
    codes = {*URUSAN, *(code for _, _, urusan in TOPICS for code in urusan)}
    assert sorted(c for c in codes if get_urusan(c) is None) == []


def test_every_seeded_agreement_names_only_urusan_of_the_reference_list(
    seeded: dict[str, Any], migrated_url: str, projection
) -> None:
    projection(timeout=120)
    used = {r[0] for r in _rows(migrated_url, "SELECT DISTINCT unnest(urusan) FROM registry.agreements")}
    assert used and sorted(u for u in used if get_urusan(u) is None) == []


def _reporting_caught_up(url: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    with make_runners(url) as runners, psycopg.connect(url) as conn:
        while max(feed_lag(conn).values()) > 0:
            assert time.monotonic() < deadline, feed_lag(conn)
            run_for(runners, 0.5)
            conn.commit()


def test_the_regions_submitted_most_past_reports_some_late_some_never_and_a_province_consolidates_them(
    seeded: dict[str, Any], migrated_url: str, settings, token
) -> None:
    # The seed's summary counts the regions' reports by timeliness.
    counts = re.search(r"laporan daerah: belum_menyampaikan ([\d,]+), tepat_waktu ([\d,]+), terlambat ([\d,]+)",
                       seeded["output"])
    assert counts, seeded["output"]
    missing, on_time, late = (int(n.replace(",", "")) for n in counts.groups())
    assert on_time > late > 0 and missing > 0 and on_time + late > 0.75 * (on_time + late + missing)
    _reporting_caught_up(migrated_url)
    # The reporting read model holds them as the regions' submissions.
    standings = dict(_rows(migrated_url, "SELECT CASE WHEN revision = 0 THEN 'belum_menyampaikan' WHEN first_on_time "
                                         "THEN 'tepat_waktu' ELSE 'terlambat' END, count(*) FROM reporting.reports "
                                         "WHERE kind = 'region' GROUP BY 1"))
    assert standings == {"belum_menyampaikan": missing, "tepat_waktu": on_time, "terlambat": late}
    late_after, deadline = _rows(migrated_url, "SELECT min(first_submitted_on), min(deadline) FROM reporting.reports "
                                               "WHERE kind = 'region' AND revision > 0 AND NOT first_on_time")[0]
    assert late_after > deadline
    # A province's consolidation of a past semester shows its kab/kota on time, late and missing.
    regions = load_regions()
    province = max((r for r in regions.all() if "." not in r.code),
                   key=lambda r: sum(1 for k in regions.all() if k.code.startswith(r.code + ".")))
    with TestClient(create_reporting(settings, database_url=migrated_url), raise_server_exceptions=False) as client:
        response = client.get(f"/consolidations/{province.code}/2025-S2",
                              headers=token(province.code, "consolidator"))
    assert response.status_code == 200, response.text
    body = response.json()
    content = body.get("content", body)
    completeness = content["completeness"]
    assert completeness["tepat_waktu"] > 0 and completeness["submitted"] > completeness["belum_menyampaikan"]
    submitted = [r for r in content["regions"] if r["status"] != "belum_menyampaikan"]
    assert submitted and all(r["figures"] is not None for r in submitted)
    assert {r["status"] for r in content["regions"]} <= {"tepat_waktu", "terlambat", "belum_menyampaikan"}


def test_progress_goes_on_through_the_region_reports_not_only_the_families() -> None:
    # At the national scale the region reports took five minutes after the last family's line,
    # with nothing printed: an operator could not tell a working seed from a stuck one.
    seen: list[tuple[int, int, int]] = []
    seeder = Seeder(seed=SEED, scale="small", count=60, progress_seconds=0,
                    progress=lambda r: seen.append((r.families, r.reports_done, r.reports_planned)))
    report = seeder.run()
    assert seen and seen[0][1] == 0  # the families' phase first
    during_reports = [s for s in seen if s[2] > 0]
    assert len(during_reports) > 1, seen[-3:]
    assert during_reports[-1][1] == during_reports[-1][2] == sum(report.reports.values()) > 0


def test_the_seed_command_prints_the_region_reports_progress(
    pg_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.ksd import seed as seed_module

    original = seed_module.Seeder.__init__

    def every_step(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN001
        original(self, *args, **{**kwargs, "progress_seconds": 0, "count": 30})

    monkeypatch.setattr(seed_module.Seeder, "__init__", every_step)
    with fresh_database(pg_server_url, prefix="ksd_seed_progress") as url:  # not the module's dataset
        migrate_all(url)
        monkeypatch.setenv("DATABASE_URL", url)
        result = CliRunner().invoke(cli, ["seed", "--scale", "small", "--seed", "8"])
    assert result.exit_code == 0, result.output
    assert re.search(r"laporan daerah [\d,]+ dari [\d,]+, [\d,]+ peristiwa", result.output), result.output[-800:]
