"""devhost's blob requests (blob_rest.py): signed requests store and lease blobs exactly as
the SDK does (what one writes the other reads), refusals are the SDK's exceptions, and a
storage hiccup is retried where the SDK would retry it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devhost.azurite import DEV_KEY
from devhost.blob_rest import BlobRest, Blobs, SdkBlobs, blobs_for
from tests.devhost.test_lean_http import serve

pytestmark = pytest.mark.slow

# A quote, a space, a slash (a virtual folder) and non-ASCII, as an instance id may carry.
ODD_NAME = "it's a run-ü/output 1"
BUSY = b"HTTP/1.1 503 Busy\r\nx-ms-error-code: ServerBusy\r\nContent-Length: 0\r\n\r\n"


def test_a_key_connection_string_gets_signed_requests_and_others_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={DEV_KEY}"
    sas = "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=x&sig=y"

    async def kinds() -> list[str]:
        made = [blobs_for(key, 1, 1, 0), blobs_for(sas, 1, 1, 0)]
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
        made.append(blobs_for(key, 1, 1, 0))  # signed requests never go through a proxy
        for blobs in made:
            await blobs.close()
        return [type(blobs).__name__ for blobs in made]

    assert asyncio.run(kinds()) == ["BlobRest", "SdkBlobs", "SdkBlobs"]


@pytest.mark.parametrize("through", ["signed requests", "the SDK's clients"])
def test_blobs_and_leases_behave_as_the_service_says(
    storage_connection_string: str, unique_name: str, through: str
) -> None:
    sdk = BlobServiceClient.from_connection_string(storage_connection_string)

    async def scenario() -> None:
        blobs: Blobs = blobs_for(storage_connection_string, 5, 10, 0)
        assert isinstance(blobs, BlobRest)  # Azurite's key
        if through == "the SDK's clients":
            await blobs.close()
            blobs = SdkBlobs(storage_connection_string, 5, 10, 0)
        try:
            await blobs.create_container(unique_name)
            with pytest.raises(ResourceExistsError):
                await blobs.create_container(unique_name)
            assert await blobs.exists(unique_name, ODD_NAME) is False
            with pytest.raises(ResourceNotFoundError):
                await blobs.download(unique_name, ODD_NAME)

            await blobs.upload(unique_name, ODD_NAME, b"first", overwrite=False)
            assert await blobs.exists(unique_name, ODD_NAME) is True
            with pytest.raises(ResourceExistsError):
                await blobs.upload(unique_name, ODD_NAME, b"second", overwrite=False)
            # What one way wrote, the SDK reads, under the same name.
            stored = sdk.get_blob_client(unique_name, ODD_NAME).download_blob()
            assert stored.readall() == b"first"
            content, etag = await blobs.download(unique_name, ODD_NAME)
            assert (content, etag) == (b"first", stored.properties.etag)

            ours, theirs = str(uuid.uuid4()), str(uuid.uuid4())
            await blobs.lease(unique_name, ODD_NAME, "acquire", ours, seconds=15)
            lease = sdk.get_blob_client(unique_name, ODD_NAME).get_blob_properties().lease
            assert (lease.state, lease.duration) == ("leased", "fixed")
            with pytest.raises(HttpResponseError) as held:
                await blobs.lease(unique_name, ODD_NAME, "acquire", theirs, seconds=15)
            assert held.value.status_code == 409
            with pytest.raises(HttpResponseError) as unleased:
                await blobs.upload(unique_name, ODD_NAME, b"without the lease")
            assert unleased.value.status_code == 412
            await blobs.upload(unique_name, ODD_NAME, b"leased", lease_id=ours)
            await blobs.lease(unique_name, ODD_NAME, "renew", ours)

            # A break only while the blob is as the breaker saw it.
            with pytest.raises(HttpResponseError) as stale:
                await blobs.lease(unique_name, ODD_NAME, "break", theirs, seconds=0, if_match=etag)
            assert stale.value.status_code == 412
            _, now = await blobs.download(unique_name, ODD_NAME)
            await blobs.lease(unique_name, ODD_NAME, "break", theirs, seconds=0, if_match=now)
            with pytest.raises(HttpResponseError) as broken:
                await blobs.lease(unique_name, ODD_NAME, "renew", ours)
            assert broken.value.status_code == 409
            await blobs.lease(unique_name, ODD_NAME, "acquire", theirs, seconds=15)
            await blobs.lease(unique_name, ODD_NAME, "release", theirs)
            assert sdk.get_blob_client(unique_name, ODD_NAME).download_blob().readall() == (
                b"leased"
            )

            await blobs.delete(unique_name, ODD_NAME)
            assert await blobs.exists(unique_name, ODD_NAME) is False
            with pytest.raises(ResourceNotFoundError):
                await blobs.delete(unique_name, ODD_NAME)
        finally:
            await blobs.close()
            sdk.delete_container(unique_name)

    asyncio.run(scenario())


def test_a_busy_answer_is_tried_again_but_a_renewal_is_not() -> None:
    """503 then 201: an upload goes through on its second try; a lease renewal is the
    hub lease's to time (lease.py), so its 503 comes back at once."""

    async def scenario() -> tuple[list[str], int | None]:
        requests: list[str] = []

        def answer(request: bytes) -> bytes:
            requests.append(request.split(b" ", 2)[0].decode())
            if len(requests) % 2:
                return BUSY
            return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"

        server, origin, _ = await serve(answer)
        blobs = BlobRest(f"{origin}/devstoreaccount1", "devstoreaccount1", b"key", 1, 5, 2)
        await blobs.upload("c", "b", b"x")
        with pytest.raises(HttpResponseError) as busy:
            await blobs.lease("c", "b", "renew", "id")
        await blobs.close()
        server.close()
        return requests, busy.value.status_code

    requests, status = asyncio.run(scenario())
    assert requests == ["PUT", "PUT", "PUT"]
    assert status == 503
