"""clinictext: self-hostable two-way patient texting for clinics."""

__version__ = "0.1.0"
