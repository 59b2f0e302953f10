"""A region's profile: the letter parts every exported document is printed with (kop surat,
city of signing, signatory, nomor surat pattern), kept by the region's `admin`.

Pure: no I/O, no clock. One profile per tenant (a region code, or `national` for the
Direktorat Jenderal Bina Administrasi Kewilayahan's nota dinas). Each change records the
whole profile as it now stands, so the history of who signed what stays readable.

Who signs decides the NIP: an elected head (bupati, wali kota, gubernur; UU 23/2014
Pasal 59 and UU 10/2016) is no civil servant and has no NIP; an official who signs on the
head's behalf (a.n. / u.b.) is a civil servant (ASN) with an 18-digit NIP (PP 11/2017) and a
pangkat/golongan.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.errors import RuleViolation
from shared.regions import Region

_NAMESPACE = UUID("0b6f5a52-7d0e-4c1f-9a63-2f4c8e71d5a9")
NATIONAL = "national"
NIP_PATTERN = re.compile(r"^[0-9]{18}$")
# The letter-number pattern's placeholders: the year of the letter, and the running number
# the secretariat writes in (left as dots in a draft).
DEFAULT_NUMBER_PATTERN = "000.5.3/{nomor}/{tahun}"


def profile_id(tenant: str) -> UUID:
    """One profile per tenant: two concurrent first saves collide (409)."""
    return uuid5(_NAMESPACE, f"region-profile\x1f{tenant}")


@dataclass(frozen=True)
class ProfileFields:
    """What a profile holds (everything but who changed it and when)."""

    government_name: str
    address_lines: tuple[str, ...] = ()
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    city: str | None = None  # where letters are signed: "Bandung, 22 November 2026"
    signatory_name: str | None = None
    signatory_title: str = ""
    signatory_is_civil_servant: bool = False
    nip: str | None = None
    rank: str | None = None  # pangkat/golongan, e.g. "Pembina Utama Madya (IV/d)"
    letter_number_pattern: str = DEFAULT_NUMBER_PATTERN
    addressee: tuple[str, ...] = ()  # replaces the default addressee lines when given

    def as_event(self) -> dict[str, Any]:
        data = asdict(self)
        data["address_lines"] = list(self.address_lines)
        data["addressee"] = list(self.addressee)
        return data


def head_title(region: Region) -> str:
    """The elected head of a region: Bupati X, Wali Kota X or Gubernur X."""
    name = region.display_name
    if region.kind == "kabupaten":
        return "Bupati " + name.removeprefix("Kabupaten ")
    if region.kind == "kota":
        return "Wali Kota " + name.removeprefix("Kota ")
    return "Gubernur " + name.removeprefix("Provinsi ")


def default_profile(tenant: str, region: Region | None) -> ProfileFields:
    """What a profile reads before its admin has configured it: derived from the region's
    name and kind. The signatory is the elected head (no NIP); a kota signs in its own name
    (the city of signing of a kabupaten or province, its seat, is for the admin to give)."""
    if tenant == NATIONAL or region is None:
        return ProfileFields(
            government_name="Kementerian Dalam Negeri Republik Indonesia",
            address_lines=("Direktorat Jenderal Bina Administrasi Kewilayahan",
                           "Jalan Medan Merdeka Utara Nomor 7, Jakarta Pusat 10110"),
            city="Jakarta",
            signatory_title="Direktur Dekonsentrasi, Tugas Pembantuan, dan Kerja Sama",
            signatory_is_civil_servant=True,
        )
    government = "Pemerintah " + (region.display_name if region.kind != "provinsi"
                                  else f"Provinsi {region.display_name}")
    city = region.display_name.removeprefix("Kota ") if region.kind == "kota" else None
    return ProfileFields(government_name=government, city=city, signatory_title=head_title(region))


def check_profile(fields: ProfileFields) -> None:
    """A NIP and a rank belong to a civil servant only; a civil servant's NIP has 18 digits."""
    if not fields.signatory_is_civil_servant:
        if fields.nip:
            raise RuleViolation("nip_not_for_elected_official",
                                "NIP hanya untuk penandatangan ASN; kepala daerah yang dipilih tidak memiliki NIP.",
                                field="nip")
        if fields.rank:
            raise RuleViolation("rank_not_for_elected_official",
                                "Pangkat/golongan hanya untuk penandatangan ASN.", field="rank")
    elif fields.nip is not None and not NIP_PATTERN.fullmatch(fields.nip):
        raise RuleViolation("nip_invalid", "NIP terdiri atas 18 angka.", field="nip")
    if "{nomor}" not in fields.letter_number_pattern:
        raise RuleViolation("letter_number_pattern_invalid",
                            "Pola nomor surat harus memuat {nomor} (nomor urut yang diisi sekretariat), "
                            "misalnya 000.5.3/{nomor}/Pem/{tahun}.", field="letter_number_pattern")


class RegionProfile(Aggregate):
    class Configured(Aggregate.Created):
        actor: dict[str, Any]
        tenant: str
        profile: dict[str, Any]

    class Changed(Aggregate.Event):
        actor: dict[str, Any]
        profile: dict[str, Any]

        def apply(self, aggregate: RegionProfile) -> None:
            aggregate.profile = dict(self.profile)

    def __init__(self, actor: dict[str, Any], tenant: str, profile: dict[str, Any]) -> None:
        self.tenant = tenant
        self.profile = dict(profile)

    @classmethod
    def configure(cls, *, tenant: str, fields: ProfileFields, actor: dict[str, Any]) -> RegionProfile:
        check_profile(fields)
        return cls._create(cls.Configured, id=profile_id(tenant), actor=actor, tenant=tenant,
                           profile=fields.as_event())

    def change(self, *, fields: ProfileFields, actor: dict[str, Any]) -> None:
        check_profile(fields)
        self.trigger_event(self.Changed, actor=actor, profile=fields.as_event())

    def fields(self) -> ProfileFields:
        data = dict(self.profile)
        known = {k: v for k, v in data.items() if k in ProfileFields.__dataclass_fields__}
        known["address_lines"] = tuple(known.get("address_lines") or ())
        known["addressee"] = tuple(known.get("addressee") or ())
        return ProfileFields(**known)
