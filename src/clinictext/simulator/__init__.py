"""A Twilio-compatible SMS carrier that runs on one machine (see ``app.create_simulator``)."""

from clinictext.simulator.app import Simulator, create_simulator
from clinictext.simulator.client import point_twilio_client, simulator_client
from clinictext.simulator.settings import SimulatorSettings

__all__ = [
    "Simulator",
    "SimulatorSettings",
    "create_simulator",
    "point_twilio_client",
    "simulator_client",
]
