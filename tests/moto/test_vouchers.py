"""Voucher storage against the local Tiqets simulator and moto's S3: a verified PDF stored with
its checksum, metadata, encryption and information document; a large one in parts with bounded
memory; bad downloads refused with nothing left behind; URL safety; idempotency; the S3 error
mapping; cancellation tags; and the Lambda handler. Configuration and events in plain Python:
tests/unit/test_vouchers.py."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, cast

import boto3
import pytest
import requests
from botocore import xform_name
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from tests.conftest import use_fake_aws
from tests.lambda_context import lambda_context, without_clock
from tests.vouchers_support import BUCKET, sample_event
from tiqets_tracker.aws import forget_clients
from tiqets_tracker.errors import (
    ConfigurationError,
    InvalidExecutionInputError,
    VoucherDownloadError,
    VoucherRejectedError,
    VoucherStoreUnavailableError,
)
from tiqets_tracker.information import InformationStore
from tiqets_tracker.s3 import PART_BYTES
from tiqets_tracker.vouchers import (
    VoucherConfig,
    VoucherRequest,
    information_key,
    mark_cancelled,
    store_voucher,
    voucher_key,
)
from tiqets_tracker_local.pdfs import make_pdf
from tiqets_tracker_local.simulator import Scenario, TiqetsSimulator, VoucherBehaviour

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_s3.client import S3Client

pytestmark = pytest.mark.moto

API_KEY = "voucher-test-key"
REGION: Final = "eu-west-1"
ORDER_ID = "1111111"
INFORMATION = {"how_to_use": "Show the ticket at the entrance.", "inclusions": ["Entry"]}
PUBLIC_ADDRESS = "93.184.216.34"
MIB = 1024 * 1024


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[S3Client]:
    """One moto S3 for the module (starting moto per test costs more than the tests)."""
    with pytest.MonkeyPatch.context() as env:
        use_fake_aws(env, REGION)
        with mock_aws():
            client = boto3.client("s3", region_name=REGION)
            client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            # The default encryption of template.yaml's VoucherBucket without a KMS key.
            client.put_bucket_encryption(
                Bucket=BUCKET,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {
                            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                            "BucketKeyEnabled": True,
                        }
                    ]
                },
            )
            yield client


@pytest.fixture
def s3(moto_s3: S3Client) -> Iterator[S3Client]:
    """The module's S3 with an empty voucher bucket; emptied again afterwards."""
    yield moto_s3
    for upload in moto_s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        moto_s3.abort_multipart_upload(
            Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for key in bucket_keys(moto_s3):
        moto_s3.delete_object(Bucket=BUCKET, Key=key)


@pytest.fixture
def simulator() -> Iterator[TiqetsSimulator]:
    with TiqetsSimulator(api_key=API_KEY, time_scale=1.0) as running:
        yield running


def local_config(**overrides: Any) -> VoucherConfig:
    """The local stack's settings: the simulator's http on loopback is allowed."""
    settings: dict[str, Any] = {"bucket": BUCKET, "read_timeout": 5.0, "allow_loopback_http": True}
    settings.update(overrides)
    return VoucherConfig(**settings)


def production_config(**overrides: Any) -> VoucherConfig:
    return local_config(allow_loopback_http=False, **overrides)


def tickets_pdf_url(simulator: TiqetsSimulator, order_id: str, lang: str = "en") -> str:
    """The voucher URL, read the way the tracker reads it: from the order's tickets."""
    answer = requests.get(
        f"{simulator.base_url}orders/{order_id}/tickets",
        params={"lang": lang},
        headers={"Authorization": f"Token {API_KEY}"},
        timeout=5,
    )
    answer.raise_for_status()
    url = answer.json()["tickets_pdf_url"]
    assert isinstance(url, str)
    return url


def order_with_voucher(
    simulator: TiqetsSimulator,
    order_id: str = ORDER_ID,
    *,
    voucher: VoucherBehaviour = "pdf",
    size: int | None = None,
    lang: str = "en",
) -> str:
    simulator.add_order(
        order_id,
        Scenario(voucher=voucher, voucher_size=size),
        lang=lang,
    )
    return tickets_pdf_url(simulator, order_id, lang)


def voucher_request(
    url: str, order_id: str = ORDER_ID, lang: str = "en", *, information_key: str | None = None
) -> VoucherRequest:
    return VoucherRequest(
        order_reference_id=order_id,
        lang=lang,
        external_reference="shop-42",
        placed_at="2026-11-26T22:00:00.000Z",
        tickets_pdf_url=url,
        information_key=information_key,
    )


def staged_information(s3: S3Client, order_id: str = ORDER_ID, lang: str = "en") -> str:
    """Stage the order's informational fields as the status check does; return their key."""
    return InformationStore(BUCKET, s3).stage(order_id, lang, INFORMATION)


def voucher_downloads(simulator: TiqetsSimulator) -> int:
    return sum(1 for entry in simulator.request_log() if entry["path"].startswith("/vouchers/"))


def bucket_keys(s3: S3Client) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def assert_nothing_left(s3: S3Client) -> None:
    assert bucket_keys(s3) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def stored_sha256(s3: S3Client, key: str) -> str:
    """The SHA-256 of an object as read back, in 1 MiB chunks."""
    digest = hashlib.sha256()
    for chunk in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(MIB):
        digest.update(chunk)
    return digest.hexdigest()


class FixedResolver:
    """A resolver that answers these addresses for any host, and remembers what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return self.addresses


def client_error(code: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "simulated"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def own_client(real: S3Client) -> S3Client:
    """Another client of the same (moto) S3, so that event handlers on it stay with the test."""
    client: S3Client = boto3.client("s3", region_name=real.meta.region_name)
    return client


class FailingS3:
    """An S3 client whose `operation` raises `error` from its (after+1)-th call on, whoever
    makes the call: the voucher code, or s3transfer inside `upload_fileobj`."""

    def __init__(self, real: S3Client, operation: str, error: Exception, after: int = 0) -> None:
        self.client = own_client(real)
        self.error = error
        self.after = after
        self.calls = 0
        names = {xform_name(name): name for name in self.client.meta.service_model.operation_names}
        self.client.meta.events.register(f"before-call.s3.{names[operation]}", self._call)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _call(self, **_: Any) -> None:
        self.calls += 1
        if self.calls > self.after:
            raise self.error


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_length: bool = True
    """False: no Content-Length; the body ends when the connection closes."""


@dataclass
class StaticServer:
    """A small HTTP/1.0 server on 127.0.0.1 for what the simulator does not serve: redirects,
    bodies without Content-Length, error statuses."""

    replies: dict[str, Reply] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def static_server() -> Iterator[StaticServer]:
    state = StaticServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            state.paths.append(path)
            reply = state.replies.get(path, Reply(status=404, body=b"not found"))
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.content_length:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


# -- a good voucher --------------------------------------------------------------------------


def test_a_pdf_is_stored_verified_with_metadata_encryption_and_information(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator)
    expected = simulator.voucher_bytes(ORDER_ID)
    expected_sha = hashlib.sha256(expected).hexdigest()

    staged = staged_information(s3)

    stored = store_voucher(
        voucher_request(url, information_key=staged), config=local_config(), s3=s3
    )

    assert stored.as_result() == {
        "bucket": BUCKET,
        "key": "vouchers/1111111/en/tickets.pdf",
        "information_key": "vouchers/1111111/en/order.json",
        "size_bytes": len(expected),
        "sha256": expected_sha,
    }
    assert stored.downloaded
    pdf = s3.get_object(Bucket=BUCKET, Key=stored.key, ChecksumMode="ENABLED")
    assert pdf["Body"].read() == expected
    assert pdf["ContentType"] == "application/pdf"
    assert pdf["ServerSideEncryption"] == "AES256"
    assert pdf["Metadata"] == {
        "order-reference-id": ORDER_ID,
        "lang": "en",
        "sha256": expected_sha,
        "size": str(len(expected)),
    }
    # The checksum went to S3 with the object (S3 verifies it on receipt).
    assert pdf["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(expected).digest()).decode()

    info = s3.get_object(Bucket=BUCKET, Key=stored.information_key)
    assert info["ServerSideEncryption"] == "AES256"
    assert info["ContentType"].startswith("application/json")
    assert json.loads(info["Body"].read()) == {
        "order_reference_id": ORDER_ID,
        "external_reference": "shop-42",
        "lang": "en",
        "placed_at": "2026-11-26T22:00:00.000Z",
        "information": INFORMATION,
        "voucher": {
            "bucket": BUCKET,
            "key": stored.key,
            "content_type": "application/pdf",
            "sha256": expected_sha,
            "size_bytes": len(expected),
        },
    }
    assert sorted(bucket_keys(s3)) == [stored.information_key, stored.key, staged]
    assert voucher_downloads(simulator) == 1


def test_without_staged_information_the_document_says_none(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator)

    stored = store_voucher(voucher_request(url), config=local_config(), s3=s3)

    document = json.loads(s3.get_object(Bucket=BUCKET, Key=stored.information_key)["Body"].read())
    assert document["information"] is None


def test_staged_information_gone_missing_is_an_s3_failure_that_passes(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator)
    staged = staged_information(s3)
    s3.delete_object(Bucket=BUCKET, Key=staged)

    # The state machine retries, then checks the order again, which stages it anew.
    with pytest.raises(VoucherStoreUnavailableError, match="missing"):
        store_voucher(voucher_request(url, information_key=staged), config=local_config(), s3=s3)


def test_the_key_is_per_order_and_language(s3: S3Client, simulator: TiqetsSimulator) -> None:
    url = order_with_voucher(simulator, "2222222", lang="nl")

    stored = store_voucher(voucher_request(url, "2222222", "nl"), config=local_config(), s3=s3)

    assert stored.key == voucher_key("2222222", "nl") == "vouchers/2222222/nl/tickets.pdf"
    assert stored.information_key == information_key("2222222", "nl")
    head = s3.head_object(Bucket=BUCKET, Key=stored.key)
    assert head["Metadata"]["lang"] == "nl"


def test_a_kms_key_is_used_when_configured(s3: S3Client, simulator: TiqetsSimulator) -> None:
    key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    url = order_with_voucher(simulator)

    stored = store_voucher(voucher_request(url), config=local_config(kms_key_id=key_id), s3=s3)

    for key in (stored.key, stored.information_key):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key_id


def test_a_pdf_without_content_length_is_stored(s3: S3Client, static_server: StaticServer) -> None:
    pdf = make_pdf("no length", size=3 * MIB + 17)
    static_server.replies["/x.pdf"] = Reply(body=pdf, content_length=False)

    stored = store_voucher(
        voucher_request(static_server.url("/x.pdf")), config=local_config(), s3=s3
    )

    assert stored.size_bytes == len(pdf)
    assert stored.sha256 == hashlib.sha256(pdf).hexdigest() == stored_sha256(s3, stored.key)


# -- a large voucher -------------------------------------------------------------------------


class MemoryProbe:
    """An S3 client that measures what the voucher code itself holds.

    moto's S3 runs in this process: inside each call it copies the body twice (a werkzeug
    request, a normalised request) and keeps part data until the upload completes, and
    CompleteMultipartUpload concatenates every part in memory. None of that happens in this
    process with the real S3, so a peak over the whole store would measure moto. Instead the
    peak is taken between S3 calls: from the end of one call (tracemalloc's peak is reset
    there) to the start of the next, relative to the memory traced at that end. That covers the
    whole download (requests, hashing, the spool writes) and each part read back for upload
    right up to the moment it is handed to S3, which is all the voucher code ever holds. The
    calls are seen through botocore's events, so each call s3transfer makes inside
    `upload_fileobj` counts on its own.
    """

    def __init__(self, real: S3Client) -> None:
        self.client = own_client(real)
        self.baseline = 0
        self.peak_outside_s3 = 0
        self.calls: list[str] = []
        events = self.client.meta.events
        events.register("before-call.s3", self._call_starts)
        events.register("after-call.s3", self._call_ends)
        events.register("after-call-error.s3", self._call_ends)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def start(self) -> None:
        self.baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def _close_segment(self) -> None:
        peak = tracemalloc.get_traced_memory()[1]
        self.peak_outside_s3 = max(self.peak_outside_s3, peak - self.baseline)

    def _call_starts(self, model: OperationModel, **_: Any) -> None:
        self._close_segment()
        self.calls.append(xform_name(model.name))

    def _call_ends(self, **_: Any) -> None:
        self.start()


def test_a_large_pdf_goes_up_in_parts_with_bounded_memory(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    size = 40_000_000
    url = order_with_voucher(simulator, size=size)
    expected_sha = hashlib.sha256(simulator.voucher_bytes(ORDER_ID)).hexdigest()  # made before
    probe = MemoryProbe(s3)

    tracemalloc.start()
    try:
        probe.start()
        started = time.monotonic()
        stored = store_voucher(
            voucher_request(url), config=local_config(), s3=cast("S3Client", probe)
        )
        elapsed = time.monotonic() - started
        probe._close_segment()
    finally:
        tracemalloc.stop()

    parts = -(-size // PART_BYTES)
    assert probe.calls.count("upload_part") == parts == 5
    assert probe.calls.count("complete_multipart_upload") == 1
    # At most one 8 MiB part plus a download chunk and buffers: far below the 40 MB file.
    print(f"\n40 MB voucher: {probe.peak_outside_s3 / MIB:.1f} MiB peak, {elapsed:.2f} s")
    assert probe.peak_outside_s3 < 2 * PART_BYTES
    assert stored.size_bytes == size
    assert stored.sha256 == expected_sha == stored_sha256(s3, stored.key)
    head = s3.head_object(Bucket=BUCKET, Key=stored.key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == size
    assert head["Metadata"]["sha256"] == expected_sha
    assert head["ServerSideEncryption"] == "AES256"
    # S3 checked each part's SHA-256; the object's checksum is the composite over the parts.
    data = simulator.voucher_bytes(ORDER_ID)
    part_digests = b"".join(
        hashlib.sha256(data[start : start + PART_BYTES]).digest()
        for start in range(0, size, PART_BYTES)
    )
    composite = base64.b64encode(hashlib.sha256(part_digests).digest()).decode()
    assert head["ChecksumSHA256"] in (composite, f"{composite}-{parts}")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


class RecordingS3:
    """An S3 client that keeps the parameters of every call made with it, s3transfer's too."""

    def __init__(self, real: S3Client) -> None:
        self.client = own_client(real)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register("before-parameter-build.s3", self._record)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _record(self, model: OperationModel, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, dict(params)))


def test_a_pdf_of_one_part_goes_up_in_one_put_checked_against_its_download_digest(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator, size=PART_BYTES)
    recording = RecordingS3(s3)

    stored = store_voucher(
        voucher_request(url), config=local_config(), s3=cast("S3Client", recording)
    )

    digest = hashlib.sha256(simulator.voucher_bytes(ORDER_ID)).digest()
    assert stored.size_bytes == PART_BYTES
    uploads = [(name, params) for name, params in recording.calls if params["Key"] == stored.key]
    assert [name for name, _ in uploads] == ["HeadObject", "PutObject"]
    put = uploads[1][1]
    assert put["ChecksumAlgorithm"] == "SHA256"
    assert put["ChecksumSHA256"] == base64.b64encode(digest).decode()
    # Without a KMS key the bucket's default encryption applies: the upload names none.
    assert not {"ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled"} & set(put)


# -- bad downloads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "size", "reason"),
    [
        ("truncated", None, "broke off"),
        ("truncated", 20_000_000, "broke off"),
        ("empty", None, "empty"),
        ("not_pdf", None, "not a PDF"),
        ("wrong_length", None, "%%EOF"),
        ("wrong_length", 12_000_000, "%%EOF"),
    ],
)
def test_a_bad_download_is_refused_and_nothing_is_left(
    s3: S3Client,
    simulator: TiqetsSimulator,
    behaviour: VoucherBehaviour,
    size: int | None,
    reason: str,
) -> None:
    url = order_with_voucher(simulator, voucher=behaviour, size=size)

    with pytest.raises(VoucherDownloadError, match=reason):
        store_voucher(voucher_request(url), config=local_config(), s3=s3)

    assert_nothing_left(s3)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"%PDF-1.4\n" + b"x" * 5000, "%%EOF"),  # a PDF cut short: no end marker
        (b"%PDF-1.4\n%%EOF\n" + b" " * 2000, "%%EOF"),  # the marker too far from the end
        (b"%PD", "not a PDF"),
        (b"PK\x03\x04 a zip file" + b"\0" * 100, "not a PDF"),
    ],
)
def test_a_body_that_is_not_a_whole_pdf_is_refused(
    s3: S3Client, static_server: StaticServer, body: bytes, reason: str
) -> None:
    static_server.replies["/x.pdf"] = Reply(body=body, content_length=False)

    with pytest.raises(VoucherDownloadError, match=reason):
        store_voucher(voucher_request(static_server.url("/x.pdf")), config=local_config(), s3=s3)

    assert_nothing_left(s3)


def test_a_slow_download_hits_the_timeout(s3: S3Client, simulator: TiqetsSimulator) -> None:
    url = order_with_voucher(simulator, voucher="slow")
    started = time.monotonic()

    with pytest.raises(VoucherDownloadError, match="timeout"):
        store_voucher(voucher_request(url), config=local_config(read_timeout=0.3), s3=s3)

    assert time.monotonic() - started < 5
    assert_nothing_left(s3)


def test_a_voucher_host_that_refuses_the_connection_is_a_download_error_naming_it(
    s3: S3Client,
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    with pytest.raises(VoucherDownloadError, match=r"download failed \(connection failed\)"):
        store_voucher(
            voucher_request(f"http://127.0.0.1:{port}/x.pdf"), config=local_config(), s3=s3
        )

    assert_nothing_left(s3)


def test_the_deadline_ends_a_download_that_takes_too_long(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator, size=3 * MIB)
    ticks = iter([0.0, 0.0, 100.0, 200.0, 300.0, 400.0, 500.0])

    with pytest.raises(VoucherDownloadError, match="did not finish in time"):
        store_voucher(
            voucher_request(url),
            config=local_config(),
            s3=s3,
            deadline=50.0,
            clock=lambda: next(ticks),
        )

    assert_nothing_left(s3)


@pytest.mark.parametrize("status", [403, 404, 500, 503])
def test_an_http_error_is_retryable(s3: S3Client, static_server: StaticServer, status: int) -> None:
    static_server.replies["/x.pdf"] = Reply(status=status, body=b"<html>no</html>")

    with pytest.raises(VoucherDownloadError, match=f"HTTP {status}"):
        store_voucher(voucher_request(static_server.url("/x.pdf")), config=local_config(), s3=s3)

    assert_nothing_left(s3)


def test_a_voucher_over_the_limit_is_refused_by_its_content_length(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator, size=2 * MIB)

    with pytest.raises(VoucherRejectedError, match="more than the 1048576 allowed"):
        store_voucher(voucher_request(url), config=local_config(max_bytes=MIB), s3=s3)

    assert_nothing_left(s3)


def test_a_voucher_over_the_limit_is_refused_by_the_bytes_read(
    s3: S3Client, static_server: StaticServer
) -> None:
    static_server.replies["/x.pdf"] = Reply(
        body=make_pdf("big", size=3 * MIB), content_length=False
    )

    with pytest.raises(VoucherRejectedError, match="more than the 2097152 bytes allowed"):
        store_voucher(
            voucher_request(static_server.url("/x.pdf")),
            config=local_config(max_bytes=2 * MIB),
            s3=s3,
        )

    assert_nothing_left(s3)


# -- idempotency and failures half-way -------------------------------------------------------


def test_a_second_run_downloads_nothing_and_returns_the_same_location(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator, size=9 * MIB)  # multipart
    first = store_voucher(voucher_request(url), config=local_config(), s3=s3)
    written = s3.head_object(Bucket=BUCKET, Key=first.key)["LastModified"]

    second = store_voucher(voucher_request(url), config=local_config(), s3=s3)

    assert second.as_result() == first.as_result()
    assert not second.downloaded
    assert voucher_downloads(simulator) == 1
    assert s3.head_object(Bucket=BUCKET, Key=first.key)["LastModified"] == written


def test_a_rerun_completes_a_missing_information_document_without_downloading(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator)
    request = voucher_request(url, information_key=staged_information(s3))
    first = store_voucher(request, config=local_config(), s3=s3)
    s3.delete_object(Bucket=BUCKET, Key=first.information_key)

    second = store_voucher(request, config=local_config(), s3=s3)

    assert second.as_result() == first.as_result()
    assert voucher_downloads(simulator) == 1
    document = json.loads(s3.get_object(Bucket=BUCKET, Key=first.information_key)["Body"].read())
    assert document["voucher"]["sha256"] == first.sha256
    assert document["information"] == INFORMATION


def test_an_object_without_our_metadata_is_replaced(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator)
    s3.put_object(Bucket=BUCKET, Key=voucher_key(ORDER_ID, "en"), Body=b"left by someone else")

    stored = store_voucher(voucher_request(url), config=local_config(), s3=s3)

    assert stored.downloaded
    assert stored_sha256(s3, stored.key) == stored.sha256


@pytest.mark.parametrize(
    ("operation", "after"),
    [("upload_part", 2), ("complete_multipart_upload", 0)],
)
def test_a_failed_multipart_upload_is_aborted_and_a_rerun_succeeds(
    s3: S3Client, simulator: TiqetsSimulator, operation: str, after: int
) -> None:
    url = order_with_voucher(simulator, size=20 * MIB)
    failing = FailingS3(s3, operation, client_error("SlowDown", 503, operation), after=after)

    with pytest.raises(VoucherStoreUnavailableError, match="SlowDown"):
        store_voucher(voucher_request(url), config=local_config(), s3=cast("S3Client", failing))

    assert_nothing_left(s3)
    stored = store_voucher(voucher_request(url), config=local_config(), s3=s3)
    assert stored.sha256 == hashlib.sha256(simulator.voucher_bytes(ORDER_ID)).hexdigest()
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


# -- S3 errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "error", "expected"),
    [
        ("head_object", client_error("AccessDenied", 403, "HeadObject"), ConfigurationError),
        ("head_object", client_error("403", 403, "HeadObject"), ConfigurationError),
        ("put_object", client_error("AccessDenied", 403, "PutObject"), ConfigurationError),
        ("put_object", client_error("InvalidArgument", 400, "PutObject"), ConfigurationError),
        ("put_object", client_error("SlowDown", 503, "PutObject"), VoucherStoreUnavailableError),
        (
            "put_object",
            client_error("InternalError", 500, "PutObject"),
            VoucherStoreUnavailableError,
        ),
        ("put_object", client_error("BadDigest", 400, "PutObject"), VoucherStoreUnavailableError),
        (
            "put_object",
            EndpointConnectionError(endpoint_url="https://s3"),
            VoucherStoreUnavailableError,
        ),
    ],
)
def test_s3_failures_raise_named_errors(
    s3: S3Client,
    simulator: TiqetsSimulator,
    operation: str,
    error: Exception,
    expected: type[Exception],
) -> None:
    url = order_with_voucher(simulator)
    failing = cast("S3Client", FailingS3(s3, operation, error))

    with pytest.raises(expected, match=r"^S3 \w+ failed: ") as raised:
        store_voucher(voucher_request(url), config=local_config(), s3=failing)

    assert not isinstance(raised.value, ClientError | EndpointConnectionError)


def test_a_missing_bucket_is_a_configuration_error(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    url = order_with_voucher(simulator)

    with pytest.raises(ConfigurationError, match="NoSuchBucket"):
        store_voucher(
            voucher_request(url), config=local_config(bucket="no-such-voucher-bucket"), s3=s3
        )


# -- URL safety ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "{simulator_url}",  # the simulator's http URL: production allows https only
        "https://127.0.0.1:{port}/vouchers/1111111-en.pdf",
        "https://localhost./x.pdf",
        "https://10.0.0.1/x.pdf",
        "https://192.168.1.20/x.pdf",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/x.pdf",
        "https://[::ffff:10.0.0.1]/x.pdf",
        "https://[fd00::1]/x.pdf",
        "https://0.0.0.0/x.pdf",
        "https://224.0.0.1/x.pdf",
        "https://100.64.0.1/x.pdf",
        "ftp://files.example.com/x.pdf",
        "https://user:pass@vouchers.example.com/x.pdf",
        "https:///x.pdf",
    ],
)
def test_production_refuses_unsafe_urls_before_any_request(
    s3: S3Client, simulator: TiqetsSimulator, url: str
) -> None:
    simulator_url = order_with_voucher(simulator)
    port = simulator_url.split(":")[2].split("/")[0]
    resolver = FixedResolver("127.0.0.1")  # what "localhost." resolves to

    with pytest.raises(VoucherRejectedError):
        store_voucher(
            voucher_request(url.format(simulator_url=simulator_url, port=port)),
            config=production_config(),
            s3=s3,
            resolver=resolver,
        )

    assert voucher_downloads(simulator) == 0
    assert_nothing_left(s3)


@pytest.mark.parametrize(
    "addresses",
    [
        (PUBLIC_ADDRESS, "10.1.2.3"),  # ANY private address refuses the host
        ("2606:2800:220:1:248:1893:25c8:1946", "fe80::1%eth0"),
        ("127.0.0.1",),
        ("172.16.5.4",),
        (),
    ],
)
def test_every_address_a_host_resolves_to_must_be_public(
    s3: S3Client, addresses: tuple[str, ...]
) -> None:
    resolver = FixedResolver(*addresses)

    with pytest.raises(VoucherRejectedError, match=re.escape("vouchers.example.com")):
        store_voucher(
            voucher_request("https://vouchers.example.com/t/x.pdf?sig=1"),
            config=production_config(),
            s3=s3,
            resolver=resolver,
        )

    assert resolver.calls == [("vouchers.example.com", 443)]


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://10.0.0.1/x.pdf", ()),
        ("http://vouchers.example.com/x.pdf", (PUBLIC_ADDRESS,)),  # http only to loopback
        ("http://sim.local/x.pdf", ("127.0.0.1", "192.168.1.9")),
        ("file:///etc/passwd", ()),
    ],
)
def test_loopback_mode_allows_nothing_private_but_loopback(
    s3: S3Client, url: str, addresses: tuple[str, ...]
) -> None:
    with pytest.raises(VoucherRejectedError):
        store_voucher(
            voucher_request(url), config=local_config(), s3=s3, resolver=FixedResolver(*addresses)
        )


def test_the_connected_address_is_checked_too(s3: S3Client, static_server: StaticServer) -> None:
    """DNS rebinding: the name checked as public connects to a loopback address."""
    static_server.replies["/x.pdf"] = Reply(body=make_pdf("internal"))
    url = f"https://localhost:{static_server.port}/x.pdf"

    with pytest.raises(VoucherRejectedError, match=r"connection refused.*loopback"):
        store_voucher(
            voucher_request(url),
            config=production_config(),
            s3=s3,
            resolver=FixedResolver(PUBLIC_ADDRESS),
        )

    assert static_server.paths == []  # refused on connect: no request was sent
    assert_nothing_left(s3)


def test_redirects_are_followed_by_hand(
    s3: S3Client, simulator: TiqetsSimulator, static_server: StaticServer
) -> None:
    target = order_with_voucher(simulator)
    static_server.replies["/a"] = Reply(status=301, headers=(("Location", "/b?sig=x"),))
    static_server.replies["/b"] = Reply(status=307, headers=(("Location", target),))

    stored = store_voucher(voucher_request(static_server.url("/a")), config=local_config(), s3=s3)

    assert static_server.paths == ["/a", "/b"]
    assert stored.sha256 == hashlib.sha256(simulator.voucher_bytes(ORDER_ID)).hexdigest()


def test_a_redirect_to_a_private_address_is_refused(
    s3: S3Client, static_server: StaticServer
) -> None:
    static_server.replies["/a"] = Reply(
        status=302, headers=(("Location", "http://169.254.169.254/latest/meta-data/"),)
    )

    with pytest.raises(VoucherRejectedError, match=re.escape("169.254.169.254")):
        store_voucher(voucher_request(static_server.url("/a")), config=local_config(), s3=s3)

    assert static_server.paths == ["/a"]


def test_more_than_three_redirects_are_refused(s3: S3Client, static_server: StaticServer) -> None:
    static_server.replies["/loop"] = Reply(status=302, headers=(("Location", "/loop"),))

    with pytest.raises(VoucherDownloadError, match="more than 3 times"):
        store_voucher(voucher_request(static_server.url("/loop")), config=local_config(), s3=s3)

    assert static_server.paths == ["/loop"] * 4


def test_the_query_string_never_reaches_logs_or_errors(
    s3: S3Client, simulator: TiqetsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "X-Amz-Signature=0123456789abcdefSECRET"
    good = order_with_voucher(simulator)
    bad = order_with_voucher(simulator, "3333333", voucher="not_pdf")
    caplog.set_level(logging.DEBUG)

    store_voucher(voucher_request(f"{good}?{secret}"), config=local_config(), s3=s3)
    with pytest.raises(VoucherDownloadError) as raised:
        store_voucher(voucher_request(f"{bad}?{secret}", "3333333"), config=local_config(), s3=s3)

    assert "/vouchers/1111111-en.pdf" in caplog.text  # host and path are logged
    assert "SECRET" not in caplog.text
    assert "SECRET" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


# -- cancellation ----------------------------------------------------------------------------


def test_mark_cancelled_tags_both_objects_and_keeps_other_tags(
    s3: S3Client, simulator: TiqetsSimulator
) -> None:
    stored = store_voucher(
        voucher_request(order_with_voucher(simulator)), config=local_config(), s3=s3
    )
    s3.put_object_tagging(
        Bucket=BUCKET, Key=stored.key, Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]}
    )

    assert mark_cancelled(BUCKET, ORDER_ID, "en", s3=s3)
    assert mark_cancelled(BUCKET, ORDER_ID, "en", s3=s3)  # twice: same tags

    pdf_tags = s3.get_object_tagging(Bucket=BUCKET, Key=stored.key)["TagSet"]
    assert sorted((tag["Key"], tag["Value"]) for tag in pdf_tags) == [
        ("order-status", "cancelled"),
        ("team", "ops"),
    ]
    info_tags = s3.get_object_tagging(Bucket=BUCKET, Key=stored.information_key)["TagSet"]
    assert info_tags == [{"Key": "order-status", "Value": "cancelled"}]


def test_mark_cancelled_without_a_voucher_is_false(s3: S3Client) -> None:
    assert not mark_cancelled(BUCKET, ORDER_ID, "en", s3=s3)
    assert not mark_cancelled(BUCKET, ORDER_ID, "de", s3=s3)


# -- the Lambda handler ----------------------------------------------------------------------


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch, s3: S3Client) -> Iterator[None]:
    monkeypatch.setenv("VOUCHER_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("VOUCHER_ALLOW_LOOPBACK_HTTP", "true")
    monkeypatch.setenv("VOUCHER_DOWNLOAD_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TiqetsTracker")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tiqets-tracker")
    # Powertools reads the namespace when the handler module is imported, which may have
    # happened before this environment was set (tests/unit/test_vouchers.py imports it).
    from store_vouchers import app

    monkeypatch.setattr(app.metrics, "namespace", "TiqetsTracker")
    forget_clients()  # the handler's client must be made inside moto
    yield
    forget_clients()


@pytest.mark.parametrize(
    "context",
    [
        without_clock(lambda_context("store-vouchers", memory_mb=512)),
        lambda_context("store-vouchers", memory_mb=512, remaining_millis=60_000),
    ],
)
def test_the_handler_stores_the_voucher_and_returns_its_location(
    handler_env: None, s3: S3Client, simulator: TiqetsSimulator, context: object
) -> None:
    from store_vouchers.app import lambda_handler

    event = sample_event()
    event["tickets_pdf_url"] = order_with_voucher(simulator)
    assert event["information_key"] == staged_information(s3)

    result = lambda_handler(event, context)
    again = lambda_handler(event, context)

    expected = simulator.voucher_bytes(ORDER_ID)
    assert (
        result
        == again
        == {
            "bucket": BUCKET,
            "key": "vouchers/1111111/en/tickets.pdf",
            "information_key": "vouchers/1111111/en/order.json",
            "size_bytes": len(expected),
            "sha256": hashlib.sha256(expected).hexdigest(),
        }
    )
    assert voucher_downloads(simulator) == 1
    assert json.loads(json.dumps(result)) == result  # plain JSON for the execution state


def test_the_handler_raises_the_named_error(
    handler_env: None, s3: S3Client, simulator: TiqetsSimulator
) -> None:
    from store_vouchers.app import lambda_handler

    event = sample_event()
    event["tickets_pdf_url"] = order_with_voucher(simulator, voucher="truncated")
    event["information_key"] = None

    with pytest.raises(VoucherDownloadError):
        lambda_handler(event, without_clock(lambda_context("store-vouchers", memory_mb=512)))
    with pytest.raises(InvalidExecutionInputError):
        lambda_handler(
            {"order": {}}, without_clock(lambda_context("store-vouchers", memory_mb=512))
        )
    assert_nothing_left(s3)
