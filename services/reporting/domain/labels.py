"""How people read the platform's codes, in Bahasa Indonesia (DOMAIN.md): for exported
reports and other text an official reads. The tables are the platform's vocabulary,
`shared.labels` (the web reads the same ones); re-exported here under their names."""

from __future__ import annotations

from shared.labels import (
    CATEGORIES,
    DOCUMENT_STAGES,
    DOCUMENTS,
    FORMS,
    PARTNER_TYPES,
    RECOMMENDATIONS,
    STAGES,
    label,
)

__all__ = ["CATEGORIES", "DOCUMENTS", "DOCUMENT_STAGES", "FORMS", "PARTNER_TYPES", "RECOMMENDATIONS", "STAGES", "label"]
