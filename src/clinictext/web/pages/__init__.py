"""The staff pages, one module a screen; each has a ``router``."""

from clinictext.web.pages import composer, connector, inbox, leads, patient, settings

MODULES = (leads, inbox, patient, composer, connector, settings)
