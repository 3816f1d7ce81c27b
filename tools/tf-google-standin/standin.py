"""A stand-in Terraform provider: serves a published provider schema over Terraform's plugin protocol
(v6, from the `tf` package) and nothing else.

    python standin.py SCHEMA_JSON          (started by Terraform through the terraform-provider-* script)

SCHEMA_JSON is `terraform providers schema -json`'s shape (schema-from-cdktf.mjs writes it). With it,
`terraform validate` checks every argument, block and reference against the real provider's schema,
and `terraform test` with `mock_provider` plans and applies (the mock computes the values; Terraform
asks the provider only for the schema and for validation). There is no cloud behind it: reading a
data source or applying a change without a mock is refused with an error saying so.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import msgpack
from tf import provider as tf_provider
from tf import runner
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc

NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
    "group": pb.Schema.NestedBlock.GROUP,
}
UNKNOWN = msgpack.ExtType(0, b"\x00")


def _block(block: dict[str, Any]) -> pb.Schema.Block:
    return pb.Schema.Block(
        attributes=[
            pb.Schema.Attribute(
                name=name,
                type=json.dumps(a["type"]).encode(),
                required=a.get("required", False),
                optional=a.get("optional", False),
                computed=a.get("computed", False),
                sensitive=a.get("sensitive", False),
            )
            for name, a in sorted(block.get("attributes", {}).items())
        ],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=name,
                block=_block(b["block"]),
                nesting=NESTING[b["nesting_mode"]],
                min_items=b.get("min_items", 0),
                max_items=b.get("max_items", 0),
            )
            for name, b in sorted(block.get("block_types", {}).items())
        ],
    )


def _schema(entry: dict[str, Any]) -> pb.Schema:
    return pb.Schema(version=entry.get("version", 0), block=_block(entry["block"]))


def _refused(what: str) -> list[pb.Diagnostic]:
    return [
        pb.Diagnostic(
            severity=pb.Diagnostic.ERROR,
            summary=f"stand-in provider: {what}",
            detail="This provider only serves the published schema (validate, and terraform test with "
            "mock_provider). There is no cloud behind it: plan and apply against a real project with "
            "the real provider.",
        )
    ]


def _unknown_computed(value: Any, block: dict[str, Any]) -> Any:
    """A create's planned state: every computed attribute left null becomes unknown."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, a in block.get("attributes", {}).items():
        if a.get("computed") and out.get(name) is None:
            out[name] = UNKNOWN
    for name, b in block.get("block_types", {}).items():
        inner = out.get(name)
        if isinstance(inner, list):
            out[name] = [_unknown_computed(v, b["block"]) for v in inner]
    return out


class StandIn(rpc.ProviderServicer):
    def __init__(self, schema_path: Path) -> None:
        self.schema_path = schema_path
        # Terraform starts a provider several times per command: the encoded response is kept beside
        # the schema (half the start-up time), rebuilt when the schema is newer.
        cached = schema_path.with_suffix(".pb")
        self.response = pb.GetProviderSchema.Response()
        if cached.is_file() and cached.stat().st_mtime >= schema_path.stat().st_mtime:
            self.response.ParseFromString(cached.read_bytes())
            return
        schema = self.raw
        self.response = pb.GetProviderSchema.Response(
            provider=_schema(schema["provider"]),
            resource_schemas={k: _schema(v) for k, v in schema["resource_schemas"].items()},
            data_source_schemas={k: _schema(v) for k, v in schema["data_source_schemas"].items()},
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True),
        )
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(self.response.SerializeToString(deterministic=True))
        partial.replace(cached)

    @functools.cached_property
    def raw(self) -> dict[str, Any]:
        """The provider's schema document, parsed only when a call needs more than the encoded one."""
        document = json.loads(self.schema_path.read_text())
        ((self._address, schema),) = document["provider_schemas"].items()
        return schema

    @property
    def address(self) -> str:
        self.raw  # noqa: B018 - parses the document, which names the provider
        return self._address

    def GetMetadata(self, request, context):
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True),
            resources=[pb.GetMetadata.ResourceMetadata(type_name=t) for t in self.raw["resource_schemas"]],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=t) for t in self.raw["data_source_schemas"]],
        )

    def GetProviderSchema(self, request, context):
        return self.response

    # Terraform checks names, types, required arguments and block counts against the schema itself;
    # the real provider's own value checks (enums, patterns) are not part of a published schema.
    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request, context):
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response()

    def UpgradeResourceState(self, request, context):
        return pb.UpgradeResourceState.Response(upgraded_state=pb.DynamicValue(json=request.raw_state.json))

    def ReadResource(self, request, context):
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def PlanResourceChange(self, request, context):
        proposed = request.proposed_new_state
        prior = msgpack.unpackb(request.prior_state.msgpack) if request.prior_state.msgpack else None
        if prior is None and proposed.msgpack:
            value = msgpack.unpackb(proposed.msgpack, ext_hook=lambda code, data: msgpack.ExtType(code, data))
            block = self.raw["resource_schemas"][request.type_name]["block"]
            proposed = pb.DynamicValue(msgpack=msgpack.packb(_unknown_computed(value, block)))
        return pb.PlanResourceChange.Response(planned_state=proposed)

    def ApplyResourceChange(self, request, context):
        return pb.ApplyResourceChange.Response(diagnostics=_refused(f"cannot apply {request.type_name}"))

    def ImportResourceState(self, request, context):
        return pb.ImportResourceState.Response(diagnostics=_refused(f"cannot import {request.type_name}"))

    def ReadDataSource(self, request, context):
        return pb.ReadDataSource.Response(diagnostics=_refused(f"cannot read data source {request.type_name}"))

    def GetFunctions(self, request, context):
        return pb.GetFunctions.Response()

    def StopProvider(self, request, context):
        return pb.StopProvider.Response()


class _Named:
    """What tf's runner asks of a provider besides the servicer: its name (dev mode only)."""

    def __init__(self, servicer: StandIn) -> None:
        self.servicer = servicer

    def full_name(self) -> str:
        return self.servicer.address


def main(argv: list[str]) -> None:
    servicer = StandIn(Path(argv[1]))
    # tf's runner does go-plugin's handshake, TLS and the controller/stdio services; it builds its
    # own servicer from a provider object, so it is handed ours instead.
    tf_provider.ProviderServicer = lambda named: named.servicer  # type: ignore[assignment]
    runner.run_provider(_Named(servicer), argv[:1])
    # Terraform starts and stops a provider for every graph walk and waits for it to exit: skip the
    # interpreter's teardown of gRPC's threads (about a second each time).
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
