"""Swift and Kotlin: openapi-generator (pinned in pyproject.toml's dev extra, its jar bundled by
the openapi-generator-cli package; Java 17) generates the iOS app's client from the committed
document with no warning but its notice that OpenAPI 3.1 support is in beta, and the Swift
models are typed: no `AnyCodable`/`JSONValue`, and each minimal row requires exactly its fields
(docs/contract.md, Dashboard)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.contract.tools import OPENAPI, executable, need, run

# The generator's own notice about OpenAPI 3.1, printed for every 3.1 document.
BETA_NOTICE = "OpenAPI 3.1 support is still in beta"
MINIMAL_FIELDS = {
    "MinimalGuest": {"id", "name", "status", "tableId", "partySize", "version"},
    "MinimalTable": {"id", "tableNumber", "status", "currentGuestId", "version"},
    "MinimalReservation": {
        "id",
        "guestName",
        "partySize",
        "startsAt",
        "tableId",
        "status",
        "version",
    },
}


def generate(generator: str, output: Path) -> list[str]:
    """Generate a client; the warnings the generator printed."""
    need("java", shutil.which("java"))
    command = [executable("openapi-generator-cli"), "generate", "-g", generator]
    printed = run([*command, "-i", str(OPENAPI), "-o", str(output)])
    return [line for line in printed.splitlines() if " WARN " in line or "[WARN" in line]


@pytest.mark.parametrize("generator", ["swift6", "kotlin"])
def test_the_generator_has_nothing_to_warn_about(generator: str, tmp_path: Path) -> None:
    warnings = [w for w in generate(generator, tmp_path) if BETA_NOTICE not in w]
    assert warnings == [], "\n".join(warnings)


def _swift_models(root: Path) -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in root.rglob("Models/*.swift")}


def _required_init_parameters(source: str) -> set[str]:
    """The parameters of a Swift model's memberwise init without a default: its required
    properties."""
    found = re.search(r"public init\((.*?)\)\s*\{", source, re.S)
    assert found is not None
    required = set()
    for parameter in found.group(1).split(","):
        name, _, rest = parameter.strip().partition(":")
        if name and "=" not in rest:
            required.add(name.strip().strip("`"))
    return required


def _coding_keys(source: str) -> set[str]:
    block = re.search(r"enum CodingKeys: String, CodingKey, CaseIterable \{(.*?)\}", source, re.S)
    assert block is not None
    return {
        case.split("=")[0].strip().strip("`")
        for case in re.findall(r"case ([^\n]+)", block.group(1))
    }


def test_the_swift_models_are_typed_and_minimal_rows_are_their_own(tmp_path: Path) -> None:
    generate("swift6", tmp_path)
    models = _swift_models(tmp_path)
    assert models, "no Swift model generated"
    untyped = sorted(
        name for name, source in models.items() if re.search(r"\b(AnyCodable|JSONValue)\b", source)
    )
    assert untyped == [], f"models with untyped properties: {untyped}"
    for name, fields in MINIMAL_FIELDS.items():
        assert name in models, f"{name} not generated"
        assert _coding_keys(models[name]) == fields, name
        assert _required_init_parameters(models[name]) == fields, name


def test_swift_clears_by_name_what_it_cannot_send_as_null(tmp_path: Path) -> None:
    """A generated Swift model leaves a nil out of the body, so a null with a meaning is sent
    as a name in `clear` (docs/contract.md, Conventions): each update has it, typed with an
    enum of exactly the fields its schema lets be null."""
    generate("swift6", tmp_path)
    models = _swift_models(tmp_path)
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))["components"]["schemas"]
    for update in ("TableUpdate", "GuestUpdate", "ReservationUpdate"):
        properties = document[update]["properties"]
        takes_null = sorted(
            name for name, prop in properties.items() if {"type": "null"} in prop.get("anyOf", ())
        )
        vocabulary = properties["clear"]["items"]["$ref"].rsplit("/", 1)[1]
        for source in (models[update], models[f"{update}Item"]):
            assert re.search(rf"public var clear: \[{vocabulary}\]\?", source), update
        cases = re.findall(r'case (\w+) = "(\w+)"', models[vocabulary])
        assert sorted(wire for _, wire in cases) == takes_null, vocabulary
        # Each case is named as the field is (`.tableId`, not `.tableid`).
        assert all(name == wire for name, wire in cases), cases
