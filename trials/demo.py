"""The demo accounts and trial shells that ``make run`` creates on a fresh machine.

``load_demo_trials`` builds the full demo trials on top of these; this module makes sure that
every role can sign in and sees its trials, configured (``trials.reference_trials``) and open
for enrolment. Idempotent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trials import services
from trials.models import Phase, Role, Site, Trial, TrialSite, TrialStatus, User
from trials.reference_trials import configure_reference_trial

#: Protocol version 1 of the demo trials takes effect this many days before today, so that the
#: demo history (``trials.demo_data``) lies under it whichever command creates it first.
DEMO_PROTOCOL_DAYS_BEFORE_TODAY = 700
DEMO_PASSWORD = "trialdesk-demo"  # noqa: S105 - documented demo credential, development only


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    role: str
    trial: str
    sites: list[str]
    full_name: str


DEMO_SITES = [
    ("NORTH", "Northfield Cancer Centre", "GB"),
    ("SOUTH", "Southbank University Hospital", "GB"),
    ("EAST", "Eastgate Myeloma Unit", "GB"),
]
DEMO_TRIALS = [
    (
        "IPD",
        "Ixazomib + pomalidomide + dexamethasone in relapsed/refractory myeloma (phase I/II)",
        Phase.PHASE_I_II,
        [("NORTH", "01"), ("SOUTH", "02")],
    ),
    (
        "CFZ",
        "Infusional carfilzomib in relapsed/refractory myeloma",
        Phase.PHASE_II,
        [("EAST", "01")],
    ),
]
# The statuses a demo trial is moved through so that coordinators can enrol at once.
DEMO_OPENING = {"IPD": ("open", "phase_i"), "CFZ": ("open", "phase_ii")}
DEMO_ACCOUNTS = [
    DemoAccount(
        "coordinator.north@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.COORDINATOR,
        "IPD",
        ["NORTH"],
        "Nora North",
    ),
    DemoAccount(
        "coordinator.south@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.COORDINATOR,
        "IPD",
        ["SOUTH"],
        "Sam South",
    ),
    DemoAccount(
        "investigator@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.INVESTIGATOR,
        "IPD",
        [],
        "Ines Investigator",
    ),
    DemoAccount(
        "statistician@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.STATISTICIAN,
        "IPD",
        [],
        "Stan Statistician",
    ),
    DemoAccount(
        "monitor@demo.trialdesk.org", DEMO_PASSWORD, Role.MONITOR, "IPD", [], "Mona Monitor"
    ),
    DemoAccount(
        "admin@demo.trialdesk.org", DEMO_PASSWORD, Role.TRIAL_ADMIN, "IPD", [], "Ada Admin"
    ),
    DemoAccount(
        "coordinator.east@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.COORDINATOR,
        "CFZ",
        ["EAST"],
        "Eve East",
    ),
    DemoAccount(
        "investigator@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.INVESTIGATOR,
        "CFZ",
        [],
        "Ines Investigator",
    ),
    DemoAccount(
        "statistician@demo.trialdesk.org",
        DEMO_PASSWORD,
        Role.STATISTICIAN,
        "CFZ",
        [],
        "Stan Statistician",
    ),
    DemoAccount(
        "admin@demo.trialdesk.org", DEMO_PASSWORD, Role.TRIAL_ADMIN, "CFZ", [], "Ada Admin"
    ),
]


@transaction.atomic
def ensure_demo_users(*, protocol_effective_date: date | None = None) -> list[DemoAccount]:
    """Sites, trial shells (configured and open) and accounts. ``protocol_effective_date``
    dates protocol version 1 when it is created (the demo history starts after it)."""
    if protocol_effective_date is None:
        protocol_effective_date = timezone.localdate() - timedelta(
            days=DEMO_PROTOCOL_DAYS_BEFORE_TODAY
        )
    sites = {}
    for code, name, country in DEMO_SITES:
        site = Site.objects.filter(code=code).first()
        sites[code] = site or services.site_create(
            code=code, name=name, country=country, acting_user=None
        )
    for code, title, phase, trial_sites in DEMO_TRIALS:
        trial = Trial.objects.filter(code=code).first() or services.trial_create(
            code=code, title=title, phase=phase, acting_user=None
        )
        configure_reference_trial(code, acting_user=None, effective_date=protocol_effective_date)
        trial.refresh_from_db()
        for status in DEMO_OPENING[code]:
            if trial.status in (TrialStatus.DRAFT, TrialStatus.OPEN) and trial.status != status:
                trial = services.trial_transition(
                    trial=trial, to_status=status, acting_user=None, reason="demo trial opened"
                )
        for site_code, number in trial_sites:
            if not TrialSite.objects.filter(trial=trial, site=sites[site_code]).exists():
                services.trial_site_add(
                    trial=trial, site=sites[site_code], number=number, acting_user=None
                )
    for account in DEMO_ACCOUNTS:
        user = User.objects.filter(email=account.email).first()
        if user is None:
            user = services.user_create(
                email=account.email,
                full_name=account.full_name,
                password=account.password,
                acting_user=None,
                is_staff=account.role == Role.TRIAL_ADMIN,
                is_superuser=account.role == Role.TRIAL_ADMIN,
            )
        trial = Trial.objects.get(code=account.trial)
        services.membership_grant(
            user=user,
            trial=trial,
            role=account.role,
            sites=[sites[c] for c in account.sites],
            all_sites=not account.sites,
            acting_user=None,
            reason="demo account",
        )
    write_accounts_file(DEMO_ACCOUNTS)
    return DEMO_ACCOUNTS


def write_accounts_file(accounts: list[DemoAccount]) -> Path:
    path = Path(settings.VAR_DIR) / "demo-accounts.json"
    rows = [
        {k: v for k, v in asdict(a).items() if k in {"email", "password", "role", "trial", "sites"}}
        for a in accounts
    ]
    path.write_text(json.dumps(rows, indent=2))
    return path


def format_accounts(accounts: list[DemoAccount]) -> str:
    lines = [f"  {'email':42} {'role':14} {'trial':6} sites"]
    for a in accounts:
        lines.append(f"  {a.email:42} {a.role:14} {a.trial:6} {', '.join(a.sites) or 'all'}")
    lines.append(f"  password for every demo account: {DEMO_PASSWORD}")
    return "\n".join(lines)
