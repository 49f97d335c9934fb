"""A fake Azure per test module, timed by the clock of the module's host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.azure.helpers import PLATFORM_GROUP, HostClock
from tests.fakeazure import FakeAzure
from tests.fakeazure.environment import OTHER_CREDENTIAL_VARIABLES


@pytest.fixture(scope="module", autouse=True)
def _only_the_fake_identity() -> Iterator[None]:
    """The hosts (which inherit this environment) and the tests sign in as the fake's
    managed identity, whatever credentials the machine's environment holds."""
    with pytest.MonkeyPatch.context() as patch:
        for name in OTHER_CREDENTIAL_VARIABLES:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def host_clock() -> HostClock:
    return HostClock()


@pytest.fixture(scope="module")
def fake_azure(host_clock: HostClock) -> Iterator[FakeAzure]:
    """The fake, with the platform group the agents' jobs go to (it exists in Azure before
    any run: infra/ creates it)."""
    with FakeAzure(clock=host_clock) as fake:
        fake.add_resource_group(PLATFORM_GROUP, tags={"purpose": "haymaker platform"})
        # Operations finish on their first poll: each InProgress answer costs the SDK a
        # second of real time, and tests/fakeazure covers polling through InProgress.
        fake.lro_in_progress_polls = 0
        yield fake


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults a test set do not outlive it."""
    yield
    if "fake_azure" in request.fixturenames:
        request.getfixturevalue("fake_azure").faults.clear()
