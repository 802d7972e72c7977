"""The staff pages: one module a screen, or a part of one, each with a ``router``."""

from clinictext.web.pages import (
    appointments,
    campaigns,
    composer,
    confirm_link,
    connector,
    inbox,
    leads,
    patient,
    patient_panel,
    settings,
    settings_access,
    settings_numbers,
    settings_org,
    templates,
)

MODULES = (
    leads,
    inbox,
    patient,
    patient_panel,
    composer,
    connector,
    settings,
    settings_org,
    settings_numbers,
    settings_access,
    templates,
    appointments,
    campaigns,
    confirm_link,
)
