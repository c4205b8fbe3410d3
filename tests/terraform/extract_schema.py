"""Extracts the Terraform schema of the AWS provider's resources and data sources that
greenlight's Terraform uses, from the jsii assembly of the prebuilt CDK for Terraform bindings
(PyPI `cdktf-cdktf-provider-aws`), where every attribute's documentation link names its
Terraform argument. `terraform validate` needs the provider itself, which cannot be downloaded
here; this carries the same schema offline.

usage: extract_schema.py <the bindings' wheel> <infra dir> <output json>

The output lists, per `resource` / `data` type used under <infra dir>: its arguments
(`true` when required) and its nested blocks (required or not, each with its own schema).
`cargo xtask terraform-schema` downloads the bindings and runs this.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/hashicorp/aws/([0-9.]+)/docs/"
                  r"(resources|data-sources)/[a-z0-9_]+ (aws_[a-z0-9_]+)\}")
ANCHOR = re.compile(r"\{@link https://registry\.terraform\.io/[^ ]+#([a-z0-9_]+) [A-Za-z0-9]+#[a-z0-9_]+\}")
USED = re.compile(r'^\s*(resource|data)\s+"(aws_[a-z0-9_]+)"', re.MULTILINE)

Schema = dict[str, Any]


def struct_of(t: dict[str, Any]) -> str | None:
    """The struct a property's type names, directly, in a collection, or in a union."""
    if "fqn" in t:
        return str(t["fqn"])
    if "collection" in t:
        return struct_of(t["collection"]["elementtype"])
    for member in t.get("union", {}).get("types", []):
        found = struct_of(member)
        if found and not found.startswith("cdktf."):
            return found
    return None


def argument_name(prop: dict[str, Any]) -> str | None:
    docs = prop.get("docs", {})
    text = " ".join(str(docs.get(k, "")) for k in ("summary", "remarks"))
    m = ANCHOR.search(text)
    return m.group(1) if m else None


def schema_of(types: dict[str, Any], fqn: str, seen: tuple[str, ...] = ()) -> Schema:
    arguments: dict[str, bool] = {}
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        name = argument_name(prop)
        if name is None:
            continue
        required = not prop.get("optional", False)
        nested = struct_of(prop["type"])
        if nested and nested in types and types[nested].get("datatype") and nested not in seen:
            blocks[name] = {"required": required, "schema": schema_of(types, nested, seen + (fqn,))}
        else:
            arguments[name] = required
    return {"arguments": dict(sorted(arguments.items())), "blocks": dict(sorted(blocks.items()))}


def assembly_of(wheel: str) -> dict[str, Any]:
    """The jsii assembly (`package/.jsii`) inside the wheel's `_jsii/*.jsii.tgz`."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(z.read(name)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/.jsii")
            if member is None:
                sys.exit(f"{wheel}: no package/.jsii in {name}")
            return dict(json.load(member))


def main() -> None:
    wheel, infra_dir, output = sys.argv[1:4]
    assembly = assembly_of(wheel)
    types: dict[str, Any] = assembly["types"]
    used: set[tuple[str, str]] = set()
    for tf in Path(infra_dir).rglob("*.tf"):
        used.update((kind, name) for kind, name in USED.findall(tf.read_text()))
    out: dict[str, Any] = {"provider": None, "resource": {}, "data": {}}
    for fqn, t in types.items():
        if t.get("kind") != "class":
            continue
        m = LINK.search(str(t.get("docs", {}).get("summary", "")))
        if not m:
            continue
        version, kind, name = m.group(1), "resource" if m.group(2) == "resources" else "data", m.group(3)
        if (kind, name) not in used or f"{fqn}Config" not in types:
            continue
        out["provider"] = f"hashicorp/aws {version}"
        out[kind][name] = schema_of(types, f"{fqn}Config")
    missing = sorted(f"{k} {n}" for k, n in used if n not in out[k])
    if missing:
        sys.exit(f"not in the provider's schema: {', '.join(missing)}")
    out["resource"] = dict(sorted(out["resource"].items()))
    out["data"] = dict(sorted(out["data"].items()))
    Path(output).write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
