"""TypeScript: openapi-typescript with its default options over the committed document, then
`tsc --strict` over a staff app's day written with the generated types (ts/scenario.ts):
no error, and every operation of the document used."""

from __future__ import annotations

import json
import re
import shutil

from tests.contract.tools import OPENAPI, TS, need, operations, run


def test_typescript_types_compile_a_scenario_of_every_operation() -> None:
    npm = need("npm", shutil.which("npm"))
    if not (TS / "node_modules" / ".bin" / "tsc").exists():
        run([npm, "ci", "--no-audit", "--no-fund"], cwd=TS)
    generated = TS / "generated"
    generated.mkdir(exist_ok=True)
    bin_ = TS / "node_modules" / ".bin"
    run([str(bin_ / "openapi-typescript"), str(OPENAPI), "-o", str(generated / "api.d.ts")])
    output = run([str(bin_ / "tsc"), "-p", str(TS)], timeout=120)
    assert "error" not in output, output

    scenario = (TS / "scenario.ts").read_text(encoding="utf-8")
    used = set(re.findall(r'api\.(GET|POST|PATCH|PUT|DELETE)\("([^"]+)"', scenario))
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    missing = {
        (method.upper(), path)
        for method, path, _ in operations(document)
        if (method.upper(), path) not in used
    }
    assert not missing, f"operations the scenario does not use: {sorted(missing)}"
