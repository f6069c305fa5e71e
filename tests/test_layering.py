"""The layering the README promises, checked by import-linter's contracts in pyproject.toml.

bin/test runs ``lint-imports`` too; this keeps a plain pytest run honest.
"""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["antidote", "leads", "billing", "payments", "disputes", "notifications"]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), "install the dev extra: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_app_has_its_edge_contract_and_billing_its_core_one():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    assert set(config["root_packages"]) == set(APPS)
    for app in APPS:
        edges = contracts[f"{app}-edges"]
        assert edges["source_modules"] == [app]
        for other in set(APPS) - {app}:
            for module in ["admin", "views", "api"]:
                if (ROOT / other / f"{module}.py").exists():
                    assert f"{other}.{module}" in edges["forbidden_modules"], (app, other, module)
    assert {"payments", "disputes", "leads.services", "leads.views"} <= set(
        contracts["billing-core"]["forbidden_modules"]
    )
    assert set(contracts["payments-disputes"]["modules"]) == {"payments", "disputes"}


def test_notifications_imports_no_domain_app():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    bottom = contracts["notifications-bottom"]
    assert bottom["source_modules"] == ["notifications"]
    assert {"leads", "billing", "payments", "disputes"} <= set(bottom["forbidden_modules"])
