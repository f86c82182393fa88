"""The dependency audit of CI: pip-audit over the CI virtualenv.

A known vulnerability in any installed package fails the run, listed. Where the advisory
service cannot be reached (this machine reaches the package registry only), the packages it
could not check are counted and named, and the run goes on: an audit that cannot run must not
block the tests, and it says so in the log.
"""

from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        print("audit: pip-audit could not run (advisory service unreachable?):", file=sys.stderr)
        print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "", file=sys.stderr)
        return 0
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"audit: {dependency['name']} {dependency['version']}: {vuln['id']} ({fixed})")
    audited = len(dependencies) - len(skipped)
    print(
        f"audit: {audited} packages checked, {len(vulnerable)} with known vulnerabilities, "
        f"{len(skipped)} not checked"
        + (f" ({', '.join(d['name'] for d in skipped[:5])}, ...)" if skipped else "")
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
