"""The app settings HayMaker reads from its environment, validated all at once.

A misconfigured deployment should fail at start with one message that lists every
problem and names each setting, not one problem per restart. The storage account is
`AzureWebJobsStorage` (a connection string) or the identity-based `AzureWebJobsStorage__*`
settings, as the Functions host reads them (haymaker.storage). The connection string is a
secret: it never appears in an error message or a repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from haymaker.durations import DurationRange, format_duration, parse_duration
from haymaker.storage import STORAGE_SETTING, StorageAccount, read_storage
from ncrontab import Schedule

PROVIDERS = ("local", "azure")
RUN_SIZES = {"small": 5, "medium": 15, "large": 30}
REGIONS = ("americas", "asia", "middle_east", "europe")
MAX_AGENTS_PER_RUN = 50
RUN_DURATION_RANGE = DurationRange(timedelta(minutes=5), timedelta(hours=24))
POLL_INTERVAL_RANGE = DurationRange(timedelta(seconds=10), timedelta(hours=1))
DEFAULT_RUN_SIZE = "small"
DEFAULT_RUN_DURATION = timedelta(hours=8)
DEFAULT_POLL_INTERVAL = timedelta(minutes=15)

SCHEDULE_SETTINGS = {region: f"HAYMAKER_SCHEDULE_{region.upper()}" for region in REGIONS}
DEFAULT_SCHEDULES = {
    "americas": "0 0 0 * * *",
    "asia": "0 0 6 * * *",
    "middle_east": "0 0 12 * * *",
    "europe": "0 0 18 * * *",
}
DEFAULT_SWEEP_SCHEDULE = "0 30 * * * *"
DEFAULT_SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_LOCATION = re.compile(r"[a-z][a-z0-9]+")
_ENVIRONMENT_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.App/"
    r"managedEnvironments/[^/]+",
    re.IGNORECASE,
)
_IDENTITY_ID = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/"
    r"userAssignedIdentities/[^/]+",
    re.IGNORECASE,
)
_RESOURCE_GROUP = re.compile(r"[-\w.()]{1,89}[-\w()]")
_T = TypeVar("_T")


class SettingsError(ValueError):
    """Every problem found in the settings, each naming its setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) with the app settings:\n{listing}")


DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com"
DEFAULT_WORKLOAD_PROFILE = "Consumption"


@dataclass(frozen=True)
class AzureSettings:
    """Where the azure provider works; none of these values is a secret.

    The endpoints default to the public cloud; overriding them serves sovereign clouds
    and the fake Azure of the tests. `verify_key_vault_challenge` stays on unless the
    vault lives at an address outside `*.vault.azure.net` (an emulator): the Key Vault
    SDK refuses a token challenge whose resource does not match the vault's domain.
    """

    subscription_id: str
    tenant_id: str
    key_vault_url: str
    container_apps_environment_id: str
    agent_image: str
    location: str
    agent_job_identity_id: str
    agent_job_identity_client_id: str | None = None
    agent_jobs_resource_group: str = ""
    agent_workload_profile: str = DEFAULT_WORKLOAD_PROFILE
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    graph_endpoint: str = DEFAULT_GRAPH_ENDPOINT
    verify_key_vault_challenge: bool = True


@dataclass(frozen=True, repr=False)
class Settings:
    """The validated app settings; ``azure`` is set only when the provider is ``azure``."""

    provider: str
    run_size: str
    run_duration: timedelta
    poll_interval: timedelta
    max_parallel_agents: int
    schedule_americas: str
    schedule_asia: str
    schedule_middle_east: str
    schedule_europe: str
    sweep_schedule: str
    storage: StorageAccount
    scenarios_dir: Path
    local_state_dir: Path
    azure: AzureSettings | None
    # The most a run may be estimated to cost (US dollars); None: no limit.
    max_run_cost_usd: float | None = None

    @property
    def run_agent_count(self) -> int:
        """How many agents a timer run starts."""
        return RUN_SIZES.get(self.run_size) or int(self.run_size)

    def default_run_shape(self) -> tuple[str | None, int | None]:
        """The run size setting as a request has it: a size name, or else a count."""
        if self.run_size in RUN_SIZES:
            return self.run_size, None
        return None, int(self.run_size)

    def schedules(self) -> dict[str, str]:
        """The NCRONTAB schedule of each regional window, keyed by region."""
        return {region: getattr(self, f"schedule_{region}") for region in REGIONS}

    def redacted(self) -> dict[str, str]:
        """Every setting as display text; storage shows its account and mode, never a key."""
        shown = {
            "provider": self.provider,
            "run_size": self.run_size,
            "run_duration": format_duration(self.run_duration),
            "poll_interval": format_duration(self.poll_interval),
            "max_parallel_agents": str(self.max_parallel_agents),
            "max_run_cost_usd": "none"
            if self.max_run_cost_usd is None
            else str(self.max_run_cost_usd),
            **{f"schedule_{region}": expr for region, expr in self.schedules().items()},
            "sweep_schedule": self.sweep_schedule,
            "storage": self.storage.describe(),
            "scenarios_dir": str(self.scenarios_dir),
            "local_state_dir": str(self.local_state_dir),
        }
        if self.azure is not None:
            shown.update({f"azure.{k}": v for k, v in vars(self.azure).items()})
        return shown

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.redacted().items())
        return f"Settings({fields})"


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate the settings; raise ``SettingsError`` listing every problem.

    A setting that is present but empty counts as absent: portals and templates often
    write empty values for settings nobody filled in.
    """
    reader = _Reader(environ)
    provider = reader.choice("HAYMAKER_PROVIDER", PROVIDERS, "local")
    run_size = reader.run_size("HAYMAKER_RUN_SIZE")
    run_duration = reader.duration(
        "HAYMAKER_RUN_DURATION", DEFAULT_RUN_DURATION, RUN_DURATION_RANGE
    )
    poll_interval = reader.duration(
        "HAYMAKER_POLL_INTERVAL", DEFAULT_POLL_INTERVAL, POLL_INTERVAL_RANGE
    )
    if poll_interval >= run_duration:
        reader.problem(
            "HAYMAKER_POLL_INTERVAL",
            f"{format_duration(poll_interval)} must be shorter than HAYMAKER_RUN_DURATION "
            f"({format_duration(run_duration)})",
        )
    max_parallel_agents = reader.integer("HAYMAKER_MAX_PARALLEL_AGENTS", 50, 1, 50)
    schedules = {
        region: reader.schedule(name, DEFAULT_SCHEDULES[region])
        for region, name in SCHEDULE_SETTINGS.items()
    }
    settings = Settings(
        provider=provider,
        run_size=run_size,
        run_duration=run_duration,
        poll_interval=poll_interval,
        max_parallel_agents=max_parallel_agents,
        schedule_americas=schedules["americas"],
        schedule_asia=schedules["asia"],
        schedule_middle_east=schedules["middle_east"],
        schedule_europe=schedules["europe"],
        sweep_schedule=reader.schedule("HAYMAKER_SWEEP_SCHEDULE", DEFAULT_SWEEP_SCHEDULE),
        storage=reader.storage(provider),
        scenarios_dir=reader.directory("HAYMAKER_SCENARIOS_DIR", DEFAULT_SCENARIOS_DIR),
        local_state_dir=Path(reader.optional("HAYMAKER_LOCAL_STATE_DIR") or ".haymaker").absolute(),
        azure=_azure_settings(reader) if provider == "azure" else None,
        max_run_cost_usd=reader.amount("HAYMAKER_MAX_RUN_COST_USD"),
    )
    if reader.problems:
        raise SettingsError(reader.problems)
    return settings


def _azure_settings(reader: _Reader) -> AzureSettings:
    """The settings only the azure provider needs, each checked for the shape Azure uses."""
    subscription_id = reader.required("HAYMAKER_AZURE_SUBSCRIPTION_ID", _check_guid)
    tenant_id = reader.required("HAYMAKER_AZURE_TENANT_ID", _check_guid)
    key_vault_url = reader.required("HAYMAKER_KEY_VAULT_URL", _check_https_url).rstrip("/")
    environment_id = reader.required(
        "HAYMAKER_CONTAINER_APPS_ENVIRONMENT_ID", _check_environment_id
    )
    environment = _ENVIRONMENT_ID.fullmatch(environment_id)
    jobs_group = reader.optional("HAYMAKER_AGENT_JOBS_RESOURCE_GROUP")
    if jobs_group is not None and not _RESOURCE_GROUP.fullmatch(jobs_group):
        reader.problem("HAYMAKER_AGENT_JOBS_RESOURCE_GROUP", f"{jobs_group!r} is not a group name")
    return AzureSettings(
        subscription_id=subscription_id,
        tenant_id=tenant_id,
        key_vault_url=key_vault_url,
        container_apps_environment_id=environment_id,
        agent_image=reader.required("HAYMAKER_AGENT_IMAGE", _check_agent_image),
        location=reader.required("HAYMAKER_LOCATION", _check_location),
        agent_job_identity_id=reader.required("HAYMAKER_AGENT_JOB_IDENTITY_ID", _check_identity_id),
        agent_job_identity_client_id=reader.optional("HAYMAKER_AGENT_JOB_IDENTITY_CLIENT_ID"),
        # The jobs stay out of the agents' own groups, where an agent could change its job.
        agent_jobs_resource_group=jobs_group or (environment["rg"] if environment else ""),
        agent_workload_profile=(
            reader.optional("HAYMAKER_AGENT_WORKLOAD_PROFILE") or DEFAULT_WORKLOAD_PROFILE
        ),
        arm_endpoint=reader.endpoint("HAYMAKER_AZURE_ARM_ENDPOINT", DEFAULT_ARM_ENDPOINT),
        graph_endpoint=reader.endpoint("HAYMAKER_AZURE_GRAPH_ENDPOINT", DEFAULT_GRAPH_ENDPOINT),
        verify_key_vault_challenge=reader.flag("HAYMAKER_KEY_VAULT_VERIFY_CHALLENGE", True),
    )


class _Reader:
    """Reads settings and collects problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(f"{name}: {reason}")

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def required(self, name: str, check: Callable[[str], str | None]) -> str:
        value = self.optional(name)
        if value is None:
            self.problem(name, "is required when HAYMAKER_PROVIDER is azure")
            return ""
        reason = check(value)
        if reason:
            self.problem(name, reason)
        return value

    def endpoint(self, name: str, default: str) -> str:
        value = self.optional(name) or default
        reason = _check_https_url(value)
        if reason:
            self.problem(name, reason)
        return value.rstrip("/")

    def flag(self, name: str, default: bool) -> bool:
        text = (self.optional(name) or "").lower()
        if not text:
            return default
        if text not in ("true", "false", "1", "0"):
            self.problem(name, f"{text!r} is not true or false")
            return default
        return text in ("true", "1")

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.optional(name) or default
        if value not in choices:
            self.problem(name, f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def run_size(self, name: str) -> str:
        """A size name, or a number of agents (a tenant may want fewer than five a window)."""
        value = self.optional(name) or DEFAULT_RUN_SIZE
        if value in RUN_SIZES:
            return value
        if re.fullmatch(r"\d{1,3}", value) and 1 <= int(value) <= MAX_AGENTS_PER_RUN:
            return str(int(value))
        self.problem(
            name,
            f"{value!r} is not one of {', '.join(RUN_SIZES)} or a number of agents "
            f"(1 to {MAX_AGENTS_PER_RUN})",
        )
        return DEFAULT_RUN_SIZE

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.optional(name)
        if text is None:
            return default
        if not re.fullmatch(r"[+-]?\d+", text):
            self.problem(name, f"{text!r} is not a whole number")
            return default
        if not low <= int(text) <= high:
            self.problem(name, f"{text} is out of range (allowed {low} to {high})")
            return default
        return int(text)

    def amount(self, name: str) -> float | None:
        """An optional positive amount of money, e.g. 25 or 12.50."""
        text = self.optional(name)
        if text is None:
            return None
        if not re.fullmatch(r"\d+(\.\d+)?", text) or float(text) <= 0:
            self.problem(name, f"{text!r} is not a positive amount (e.g. 25 or 12.50)")
            return None
        return float(text)

    def duration(self, name: str, default: timedelta, allowed: DurationRange) -> timedelta:
        text = self.optional(name)
        if text is None:
            return default
        return self._checked(name, default, lambda: _bounded_duration(text, name, allowed))

    def schedule(self, name: str, default: str) -> str:
        text = self.optional(name) or default
        return self._checked(name, default, lambda: _check_schedule(text))

    def directory(self, name: str, default: Path) -> Path:
        path = Path(self.optional(name) or default).absolute()
        if not path.is_dir():
            self.problem(name, f"{str(path)!r} is not a directory")
        return path

    def storage(self, provider: str) -> StorageAccount:
        """The storage account (haymaker.storage); the connection string is never quoted."""
        storage, problems = read_storage(self._environ)
        self.problems.extend(problems)
        if storage is not None and storage.uses_identity and provider == "local":
            self.problem(
                STORAGE_SETTING,
                "is required as a connection string when HAYMAKER_PROVIDER is local: the "
                "local provider's agents are local processes that are handed it to reach the "
                "storage account; identity-based storage settings (AzureWebJobsStorage__*) "
                "serve HAYMAKER_PROVIDER=azure only",
            )
        return storage or StorageAccount.from_connection_string("")

    def _checked(self, name: str, default: _T, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except ValueError as error:
            self.problem(name, str(error).removeprefix(f"{name}: "))
            return default


def _bounded_duration(text: str, name: str, allowed: DurationRange) -> timedelta:
    value = parse_duration(text, name)
    if value not in allowed:
        raise ValueError(f"{text} is out of range (allowed {allowed})")
    return value


def _check_schedule(expression: str) -> str:
    """Accept what the Functions host accepts: NCRONTAB's 6 (or 5) fields or an hh:mm:ss span."""
    Schedule.parse(expression)
    return expression


def _check_guid(value: str) -> str | None:
    return None if _GUID.fullmatch(value) else f"{value!r} is not a GUID"


def _check_https_url(value: str) -> str | None:
    """Azure endpoints (ARM, Graph, a vault) are https URLs of a host, with no path."""
    if re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d{1,5})?/?", value):
        return None
    return f"{value!r} is not an https URL of a host (e.g. https://my-vault.vault.azure.net/)"


def _check_identity_id(value: str) -> str | None:
    if _IDENTITY_ID.fullmatch(value):
        return None
    return (
        f"{value!r} is not a user-assigned managed identity resource id (/subscriptions/<id>/"
        "resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)"
    )


def _check_environment_id(value: str) -> str | None:
    if _ENVIRONMENT_ID.fullmatch(value):
        return None
    return (
        f"{value!r} is not a Container Apps environment resource id "
        "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.App/managedEnvironments/<name>)"
    )


def _check_agent_image(value: str) -> str | None:
    """Pinned images only: ``:latest`` or no tag would let a run start an image nobody tested."""
    repository, _, digest = value.partition("@")
    if digest:
        return None if digest.startswith("sha256:") else f"{value!r} has a malformed digest"
    last_part = repository.rsplit("/", 1)[-1]
    if ":" not in last_part:
        return f"{value!r} has no tag or digest; pin a version (e.g. myacr.azurecr.io/agent:1.4.2)"
    if last_part.endswith(":latest"):
        return f"{value!r} uses the 'latest' tag; pin a version (e.g. myacr.azurecr.io/agent:1.4.2)"
    return None


def _check_location(value: str) -> str | None:
    if _LOCATION.fullmatch(value):
        return None
    return f"{value!r} is not an Azure location name (lowercase, no spaces, e.g. westeurope)"
