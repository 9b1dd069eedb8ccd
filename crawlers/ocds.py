"""OCDS release packages → notice dicts: parsing only.

Pure functions on bytes and dicts, shared by the `ocds` spider and the tests. Which notices matter
(policing AND AI/data/surveillance work) is judged on the processing side, pipelines/procurement.py. The
shapes read are those of the OCDS 1.1 release package as published by Find a Tender (releases at
the top, `links.next` for the next page) and Contracts Finder (the same, or a `results` list of
packages), plus record packages (`records[].compiledRelease`) for good measure.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from crawlers.dates import parse_date

#: Deeper JSON than this is refused before parsing (T22): OCDS needs about 8 levels, and a
#: 100k-deep document would otherwise blow the C decoder's recursion limit.
MAX_JSON_DEPTH = 64
#: Releases read from one page; Find a Tender pages hold at most 100.
MAX_RELEASES_PER_PAGE = 1000
MAX_TITLE = 1000
MAX_DESCRIPTION = 5000
MAX_NAME = 500
STAGES = ("planning", "tender", "award", "contract")
#: OCDS documentType codes that are the published notice itself (its human-readable page).
NOTICE_DOCUMENT_TYPES = ("tenderNotice", "awardNotice", "contractNotice", "plannedProcurementNotice",
                         "contractAwardNotice", "biddingDocuments")



class OcdsError(ValueError):
    """A page that is not an OCDS package we can read; the message goes to source health."""


#: A JSON string (possessive: no backtracking state per character or escape) or one bracket.
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|([\[\]{}])', re.DOTALL)


def json_depth(body: bytes) -> int:
    """Greatest nesting of arrays/objects, without parsing (brackets inside strings ignored).

    One pass in constant memory: a substitute-then-count version held a copy of the page plus the
    regex engine's backtracking stack for one long string (REDTEAM R6: 1.19 GB for a 9 MB page)."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(body):
        bracket = match.group(1)
        if bracket is None:
            continue
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_package(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Parse one page with a depth guard: hostile nesting is an OcdsError, never a RecursionError."""
    depth = json_depth(body)
    if depth > max_depth:
        raise OcdsError(f"JSON nested {depth} levels deep (limit {max_depth}): refused")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:  # Contracts Finder serves some older notices in Windows-1252
        text = body.decode("cp1252", errors="replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise OcdsError(f"not JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise OcdsError("not an OCDS package (top level is not an object)")
    return data


def releases_of(package: dict[str, Any]) -> list[dict[str, Any]]:
    """The releases on one page, whichever of the published shapes it has."""
    out: list[Any] = []
    if isinstance(package.get("releases"), list):
        out.extend(package["releases"])
    for rec in package.get("records") or []:
        if isinstance(rec, dict) and isinstance(rec.get("compiledRelease"), dict):
            out.append(rec["compiledRelease"])
    for res in package.get("results") or []:  # Contracts Finder search: a list of packages
        if isinstance(res, dict):
            out.extend((res.get("releases") or []) if "releases" in res else [res])
    if not out and not any(k in package for k in ("releases", "records", "results")):
        raise OcdsError("not an OCDS package (no releases, records or results)")
    return [r for r in out if isinstance(r, dict)][:MAX_RELEASES_PER_PAGE]


def next_link(package: dict[str, Any]) -> str | None:
    links = package.get("links")
    nxt = links.get("next") if isinstance(links, dict) else None
    return nxt if isinstance(nxt, str) and nxt.startswith(("http://", "https://")) else None


# -- one release → one notice -------------------------------------------------------------------
def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _s(value: Any, limit: int) -> str:
    return " ".join(value.split())[:limit] if isinstance(value, str) else ""


def _amount(value: Any) -> tuple[float | None, str | None]:
    v = _d(value)
    amount = v.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return None, None
    currency = v.get("currency") if isinstance(v.get("currency"), str) else None
    return float(amount), (currency[:8] if currency else None)


def stage_of(release: dict[str, Any]) -> str:
    """The most advanced stage the release's tags name; from its sections when tags don't say."""
    tags = [t for t in _l(release.get("tag")) if isinstance(t, str)]
    for stage in reversed(STAGES):
        if any(t.startswith(stage) for t in tags):
            return stage
    for stage, key in (("contract", "contracts"), ("award", "awards"), ("tender", "tender")):
        if release.get(key):
            return stage
    return "planning"


def _cpv(release: dict[str, Any]) -> list[str]:
    tender = _d(release.get("tender"))
    classes = [tender.get("classification")]
    for item in _l(tender.get("items")) + [i for a in _l(release.get("awards")) for i in _l(_d(a).get("items"))]:
        classes.append(_d(item).get("classification"))
        classes.extend(_l(_d(item).get("additionalClassifications")))
    out: list[str] = []
    for c in map(_d, classes):
        code = c.get("id")
        if str(c.get("scheme", "")).upper() == "CPV" and isinstance(code, (str, int)):
            code = str(code).split("-")[0].strip()[:16]
            if code and code not in out:
                out.append(code)
    return out


def _parties(release: dict[str, Any], role: str) -> list[str]:
    return [_s(_d(p).get("name"), MAX_NAME) for p in _l(release.get("parties"))
            if role in _l(_d(p).get("roles")) and _s(_d(p).get("name"), MAX_NAME)]


def _notice_url(release: dict[str, Any]) -> str | None:
    docs = _l(_d(release.get("tender")).get("documents"))
    for section in ("awards", "contracts"):
        for entry in _l(release.get(section)):
            docs = _l(_d(entry).get("documents")) + docs
    fallback = None
    for doc in map(_d, docs):
        url = doc.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2083:
            continue
        if doc.get("documentType") in NOTICE_DOCUMENT_TYPES:
            return url
        fallback = fallback or url
    return fallback


def notice_from_release(release: dict[str, Any], package: dict[str, Any], source: str,
                        now: datetime | None = None) -> dict[str, Any] | None:
    """The stored shape of one release; None when it lacks the ocid or release id that identify it."""
    ocid, rid = release.get("ocid"), release.get("id")
    if not isinstance(ocid, str) or not ocid.strip() or not isinstance(rid, (str, int)) or not str(rid).strip():
        return None
    tender, planning = _d(release.get("tender")), _d(release.get("planning"))
    awards, contracts = [_d(a) for a in _l(release.get("awards"))], [_d(c) for c in _l(release.get("contracts"))]
    titles = [tender.get("title")] + [a.get("title") for a in awards] + [c.get("title") for c in contracts] \
        + [_d(planning.get("budget")).get("description")]
    title = next((t for t in (_s(x, MAX_TITLE) for x in titles) if t), "") or ocid.strip()[:MAX_TITLE]
    description = _s(tender.get("description"), MAX_DESCRIPTION) or next(
        (_s(a.get("description"), MAX_DESCRIPTION) for a in awards if a.get("description")), "")
    buyer = _s(_d(release.get("buyer")).get("name"), MAX_NAME) or next(iter(_parties(release, "buyer")), "") \
        or _s(_d(tender.get("procuringEntity")).get("name"), MAX_NAME)
    suppliers: list[str] = []
    for name in [_s(_d(s).get("name"), MAX_NAME) for a in awards for s in _l(a.get("suppliers"))] + \
            _parties(release, "supplier"):
        if name and name not in suppliers:
            suppliers.append(name)
    value, currency = None, None
    for candidate in [c.get("value") for c in contracts] + [a.get("value") for a in awards] + \
            [tender.get("value"), _d(planning.get("budget")).get("amount")]:
        value, currency = _amount(candidate)
        if value is not None:
            break
    now = now or datetime.now(timezone.utc)
    published = parse_date(release.get("date")) or parse_date(package.get("publishedDate")) or now
    return {
        "ocid": ocid.strip()[:200], "release_id": str(rid).strip()[:200], "source": source,
        "title": title, "description": description, "buyer": buyer or None, "suppliers": suppliers[:50],
        "value": value, "currency": currency, "cpv": _cpv(release)[:50], "stage": stage_of(release),
        "published_at": published, "tender_deadline": parse_date(_d(tender.get("tenderPeriod")).get("endDate")),
        "url": _notice_url(release), "matched": [],
    }


def parse_notices(package: dict[str, Any], source: str,
                  now: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """(every notice on the page that has an identity, how many releases were read). Which of them
    matter is the processing side's judgement (pipelines/procurement.py), not the crawler's."""
    releases = releases_of(package)
    notices = [n for n in (notice_from_release(rel, package, source, now) for rel in releases) if n is not None]
    return notices, len(releases)
