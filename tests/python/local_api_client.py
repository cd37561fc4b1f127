"""Drives a running Comity node's local API the way a newcomer's script would.

Python grpcio with default channel options, over the loopback TCP listener
(`[local_api] tcp`), with an API token in the `authorization` metadata:

- reflection v1alpha through grpcio-reflection's own client, and v1;
- health, which answers without a token;
- a call without a token, refused with UNAUTHENTICATED;
- one publish and one list, through stubs that grpcio-tools generates here
  from proto/;
- the JSON API's OpenAPI description, validated by openapi-spec-validator.

Run by `.ci/run` (see there); any failure raises and exits non-zero.
"""

import argparse
import importlib.resources
import json
import pathlib
import sys
import urllib.request
import uuid

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_tools import protoc
from openapi_spec_validator import validate


def generate_stubs(proto_dir: pathlib.Path, out: pathlib.Path) -> None:
    """Python stubs for every proto under proto_dir, as grpcio-tools makes them."""
    out.mkdir(parents=True, exist_ok=True)
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    files = sorted(str(p.relative_to(proto_dir)) for p in proto_dir.rglob("*.proto"))
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *files,
        ]
    )
    if code != 0:
        raise SystemExit(f"grpcio-tools could not compile {files}")
    sys.path.insert(0, str(out))


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call on a channel."""

    def __init__(self, token: str):
        self.header = ("authorization", f"Bearer {token}")

    def _with_token(self, details):
        metadata = list(details.metadata or []) + [self.header]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._with_token(details), requests)


def list_services_v1(channel) -> list:
    """Reflection v1. grpcio-reflection ships only v1alpha's client and
    messages; v1's are the same messages in another package (the same field
    numbers), so v1alpha's classes encode a v1 call exactly."""
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = list(call(iter([request]), timeout=10))
    return [s.name for s in responses[0].list_services_response.service]


def expect_code(code, call, what):
    try:
        call()
    except grpc.RpcError as e:
        if e.code() != code:
            raise SystemExit(f"{what}: expected {code.name}, got {e.code().name}: {e.details()}")
        return
    raise SystemExit(f"{what}: expected {code.name}, but the call succeeded")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, help="host:port of [local_api] tcp")
    parser.add_argument("--token", required=True)
    parser.add_argument("--proto", required=True, type=pathlib.Path)
    parser.add_argument("--stubs", required=True, type=pathlib.Path)
    parser.add_argument("--http", required=True, help="the dashboard's base URL")
    args = parser.parse_args()

    generate_stubs(args.proto.resolve(), args.stubs)
    from comity.v1 import node_pb2, node_pb2_grpc  # generated just now

    # Default options: nothing but the target.
    plain = grpc.insecure_channel(args.target)
    grpc.channel_ready_future(plain).result(timeout=30)
    channel = grpc.intercept_channel(plain, BearerToken(args.token))

    # Health needs no token (probes cannot send one).
    health = health_pb2_grpc.HealthStub(plain).Check(
        health_pb2.HealthCheckRequest(service="comity.v1.Node"), timeout=10
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING, health

    # Everything else does.
    expect_code(
        grpc.StatusCode.UNAUTHENTICATED,
        lambda: node_pb2_grpc.NodeStub(plain).Status(node_pb2.StatusRequest(), timeout=10),
        "Status without a token",
    )

    # Reflection, both versions.
    v1alpha = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    v1 = set(list_services_v1(channel))
    for services, version in [(v1alpha, "v1alpha"), (v1, "v1")]:
        missing = {"comity.v1.Node", "grpc.health.v1.Health"} - services
        assert not missing, f"reflection {version} lacks {missing}: {services}"

    # One publish and one list, through the generated stubs.
    node = node_pb2_grpc.NodeStub(channel)
    title = f"Python grpcio check {uuid.uuid4()}"
    node.PublishConsultation(
        node_pb2.PublishConsultationRequest(title=title, closes="2099-12-31"), timeout=30
    )
    listed = node.ListConsultations(node_pb2.ListConsultationsRequest(), timeout=30)
    titles = [t.value for c in listed.consultations for t in c.title]
    assert title in titles, f"{title!r} not in {titles}"

    # The JSON API's description, from the node, validated by a third party.
    with urllib.request.urlopen(f"{args.http}/api/v1/openapi.json", timeout=10) as response:
        spec = json.load(response)
    validate(spec)
    assert spec["openapi"].startswith("3.1"), spec["openapi"]
    assert "/api/v1/status" in spec["paths"], sorted(spec["paths"])

    print(
        f"python grpcio {grpc.__version__}: reflection v1alpha and v1 ({len(v1alpha)} services), "
        f"health, token refusal, publish and list over {args.target}; "
        f"OpenAPI {spec['openapi']} ({len(spec['paths'])} paths) valid"
    )


if __name__ == "__main__":
    main()
