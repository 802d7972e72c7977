from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import OrgOut, OrgPatch
from clinictext.domain.replies import DEFAULTS
from clinictext.services import orgs
from clinictext.store.models import Organization

router = APIRouter(tags=["organization"])


def org_out(org: Organization) -> OrgOut:
    limit = org.manual_spend_limit_cents
    return OrgOut(
        id=org.id,
        name=org.name,
        sms_enabled=org.sms_enabled,
        messaging_registration=org.messaging_registration,
        clinic_phone=org.clinic_phone,
        timezone=org.timezone,
        send_window={"start": org.send_window_start, "end": org.send_window_end},
        manual_spend_limit_usd=None if limit is None else Decimal(limit) / 100,
        segment_price_usd=Decimal(org.segment_price_micros) / 1_000_000,
        url_policy=org.url_policy,
        replies={kind: getattr(org, f"reply_{kind}") or text for kind, text in DEFAULTS.items()},
        automated_daily_cap=org.automated_daily_cap,
        automated_weekly_cap=org.automated_weekly_cap,
        lead_close_on_booking=org.lead_close_on_booking,
        lead_inactivity_days=org.lead_inactivity_days,
    )


@router.get("/org", response_model=OrgOut)
def get_org(caller: CallerDep, session: SessionDep) -> OrgOut:
    """The caller's organization and its texting settings."""
    return org_out(orgs.get_org(session, caller.org_id))


@router.patch("/org", response_model=OrgOut)
def patch_org(patch: OrgPatch, caller: CallerDep, session: SessionDep) -> OrgOut:
    """Change settings; only the fields sent are changed, and each change is audited."""
    changes = patch.model_dump(exclude_unset=True)
    if "replies" in changes:
        changes["replies"] = patch.replies.model_dump(exclude_unset=True) if patch.replies else {}
    for field in (
        "name",
        "sms_enabled",
        "messaging_registration",
        "timezone",
        "url_policy",
        "automated_daily_cap",
        "automated_weekly_cap",
        "lead_close_on_booking",
    ):
        if field in changes and changes[field] is None:
            changes.pop(field)
    if "manual_spend_limit_usd" in changes:
        usd = changes.pop("manual_spend_limit_usd")
        changes["manual_spend_limit_cents"] = None if usd is None else int(usd * 100)
    if "segment_price_usd" in changes:
        usd = changes.pop("segment_price_usd")
        if usd is not None:
            changes["segment_price_micros"] = int(usd * 1_000_000)
    if changes.get("send_window") is None:
        changes.pop("send_window", None)
    return org_out(orgs.update_org(session, caller.org_id, changes, caller.actor))
