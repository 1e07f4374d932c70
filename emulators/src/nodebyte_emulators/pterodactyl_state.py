"""Configuration and runtime state of one Pterodactyl emulator instance."""

import random
import string
from dataclasses import dataclass, field

from .faults import Faults
from .pterodactyl_data import DatasetSpec
from .pterodactyl_store import Store
from .ratelimit import FixedWindowLimiter
from .stats import RequestStats


def default_key(prefix: str) -> str:
    """A stable 48-character key (prefix + 43), the length the panel issues.

    Seeding Random with a str is deterministic across runs and PYTHONHASHSEED values.
    """
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(random.Random(f"nodebyte-{prefix}").choices(alphabet, k=43))


DEFAULT_APPLICATION_KEY = default_key("ptla_")
DEFAULT_CLIENT_KEY = default_key("ptlc_")


@dataclass(frozen=True, slots=True)
class PterodactylConfig:
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    application_key: str = DEFAULT_APPLICATION_KEY
    client_key: str = DEFAULT_CLIENT_KEY
    # The client key belongs to this user; the generated user 1 is a root admin.
    client_user_id: int = 1
    rate_limit: bool = False
    application_limit: int = 240
    client_limit: int = 720
    # Panel 1.11 lets a root admin's client key through the Application API; off by
    # default so a backend that mixes up its keys is caught.
    client_key_on_application: bool = False


class Panel:
    """Everything the routes and the gate share."""

    def __init__(self, config: PterodactylConfig) -> None:
        self.config = config
        self.store = Store(config.dataset)
        self.faults = Faults()
        self.stats = RequestStats()
        self.databases_include = "rendered"  # or "omitted" (see the control API's settings)
        self.limiters = {
            "application": FixedWindowLimiter(config.application_limit, 60, config.rate_limit),
            "client": FixedWindowLimiter(config.client_limit, 60, config.rate_limit),
        }
