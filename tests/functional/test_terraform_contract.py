"""terraform/ deploys exactly what functions/manifest.yaml, shared/config.py and shared/schemas describe.

The checks live in tests/support/terraform_contract.py; here they run on the repository (GIVEN the real files,
THEN no violation) and on altered copies (GIVEN one broken promise, THEN it is reported), so each
check is known to be able to fail.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.terraform_contract import Terraform, violations
from tooling.manifest import MANIFEST_PATH, REPO_ROOT

TERRAFORM = REPO_ROOT / "terraform"
pytestmark = pytest.mark.skipif(not TERRAFORM.is_dir(), reason="no terraform/ yet")


@pytest.fixture
def manifest() -> dict:
    return yaml.safe_load(MANIFEST_PATH.read_text())


@pytest.fixture
def terraform_copy(tmp_path) -> Path:
    target = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, target, ignore=shutil.ignore_patterns(".terraform", "*.zip"))
    return target


def test_terraform_keeps_every_promise_of_the_manifest_config_and_schemas(manifest):
    problems = violations(REPO_ROOT, manifest)
    assert problems == [], "\n".join(problems)


def test_every_manifest_function_has_one_deployment_keyed_by_its_name(manifest):
    tf = Terraform.parse(TERRAFORM)
    functions = tf.of("resource", "google_cloudfunctions2_function")
    assert [b.module_dir.name for b in functions] == ["gcp-function"]
    call = next(b for b in tf.of("module", module="platform") if b.name == "function")
    assert call.get("for_each") == "local.gcp_functions"


def test_an_unknown_trigger_kind_is_reported(manifest):
    # GIVEN a manifest with a function whose trigger no module handles
    extra = copy.deepcopy(next(f for f in manifest["functions"] if f["name"] == "budget_alert"))
    extra.update(name="audit_log_sink", trigger={"kind": "cloudtasks", "queue": "audit"})
    manifest["functions"].append(extra)
    # THEN the contract names it (and its missing least-privilege entry)
    problems = violations(REPO_ROOT, manifest)
    assert "audit_log_sink: trigger kind 'cloudtasks' is not one the gcp-function module handles" in problems
    assert any(p.startswith("audit_log_sink: no least-privilege entry") for p in problems)


def test_a_dead_letter_topic_on_an_eventarc_trigger_is_reported_as_a_promise_nothing_keeps(manifest):
    register = next(f for f in manifest["functions"] if f["name"] == "register_model")
    register["retry"]["dead_letter_topic"] = "register-model-dead-letter"
    problems = violations(REPO_ROOT, manifest)
    assert any("register_model: Eventarc GCS triggers have no dead-letter topic" in p for p in problems)


def test_a_bucket_the_code_uses_but_terraform_lacks_is_reported(manifest):
    drift = next(f for f in manifest["functions"] if f["name"] == "drift_report")
    drift["env"]["MLOPS_EVENTS_DRIFT_LOGS_BUCKET"] = "ml-drift-archive-{env}"
    problems = violations(REPO_ROOT, manifest)
    expected = "bucket ml-drift-archive-{env} (drift_report env MLOPS_EVENTS_DRIFT_LOGS_BUCKET)"
    assert f"{expected} is not declared by modules/storage" in problems


def test_secrets_not_declared_from_the_manifest_are_reported(manifest, terraform_copy):
    main = terraform_copy / "modules" / "platform" / "main.tf"
    main.write_text(
        main.read_text()
        .replace('resource "google_secret_manager_secret" "this"', 'resource "google_secret_manager_secret" "gone"')
        .replace("for_each = local.secret_names", "for_each = toset([])")
    )
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert any("Secret Manager secrets ['slack-webhook'] are not declared" in p for p in problems)


def test_a_public_invoker_a_secret_version_and_an_undocumented_variable_are_reported(manifest, terraform_copy):
    (terraform_copy / "modules" / "gcp-function" / "leak.tf").write_text(
        'resource "google_cloud_run_v2_service_iam_member" "public" {\n'
        "  name   = google_cloudfunctions2_function.this.service_config[0].service\n"
        '  role   = "roles/run.invoker"\n'
        '  member = "allUsers"\n'
        "}\n\n"
        'resource "google_secret_manager_secret_version" "webhook" {\n'
        '  secret      = "slack-webhook"\n'
        '  secret_data = "https://hooks.slack.com/services/T000/B000/XXXX"\n'
        "}\n\n"
        'variable "untyped" {\n  default = 1\n}\n'
    )
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert "google_cloud_run_v2_service_iam_member.public (modules/gcp-function/leak.tf) grants allUsers" in problems
    assert any(p.startswith("google_secret_manager_secret_version.webhook") for p in problems)
    assert "variable untyped in modules/gcp-function has no type" in problems
    assert "variable untyped in modules/gcp-function has no description" in problems


def test_a_table_partitioned_unlike_its_adapter_is_reported(manifest, terraform_copy):
    registry = terraform_copy / "modules" / "registry" / "main.tf"
    registry.write_text(registry.read_text().replace('field = "event_time"', 'field = "updated_at"'))
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert any(p.startswith("table ml_registry.registry_events: partition 'updated_at'") for p in problems)


def test_a_view_not_read_from_its_sql_file_is_reported(manifest, terraform_copy):
    # GIVEN the registry's models view written inline instead of from shared/schemas/ml_registry.models.view.sql
    registry = terraform_copy / "modules" / "registry" / "main.tf"
    inline = 'query          = "SELECT * FROM registry_events"'
    registry.write_text(
        registry.read_text().replace(
            "query          = templatefile(local.models_view_path, { events_table = local.registry_events_table_id })",
            inline,
        )
    )
    # THEN it is named
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert "view ml_registry.models: its query is not templatefile() of shared/schemas/ml_registry.models.view.sql" in (
        problems
    )


def test_plan_time_traps_are_reported(manifest, terraform_copy):
    # GIVEN a module-level depends_on on the functions, deploy zips under .terraform/ and the AWS
    # module called from the GCP composition
    platform = terraform_copy / "modules" / "platform" / "main.tf"
    platform.write_text(
        platform.read_text().replace(
            "  dead_letter_topic_id = try(local.topic_ids[each.value.retry.dead_letter_topic], null)\n",
            "  dead_letter_topic_id = try(local.topic_ids[each.value.retry.dead_letter_topic], null)\n"
            "  depends_on = [module.registry]\n",
        )
        + '\nmodule "ecr_rollout" {\n  source = "../aws-ecr-rollout"\n}\n'
    )
    function = terraform_copy / "modules" / "gcp-function" / "main.tf"
    function.write_text(
        function.read_text().replace('source_zip = "${var.source_dir}.zip"', 'source_zip = ".terraform/bundles/x.zip"')
    )
    rollout = terraform_copy / "modules" / "aws-ecr-rollout" / "main.tf"
    rollout.write_text(
        rollout.read_text().replace(
            "filename         = var.artifact_bucket == null ? local.bundle_zip : null",
            'filename         = "${path.root}/.terraform/bundles/rollout.zip"',
        )
    )
    # THEN each is named
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert "module function (modules/platform/main.tf) has a module-level depends_on" in problems
    assert "locals of modules/gcp-function point under .terraform/" in problems
    assert "aws_lambda_function.this (modules/aws-ecr-rollout/main.tf) reads or writes under .terraform/" in problems
    assert "modules/platform calls ../aws-ecr-rollout: GCP and AWS belong in separate roots" in problems


def test_provider_settings_a_first_apply_needs_are_reported(manifest, terraform_copy):
    # GIVEN the GCP root's google provider without the billing project and with an unused google-beta
    # provider beside it, and the AWS root's provider unpinned
    gcp = terraform_copy / "environment" / "gcp" / "main.tf"
    gcp.write_text(
        gcp.read_text().replace("  user_project_override = true\n", "")
        + '\nprovider "google-beta" {\n  project = var.project_id\n}\n'
    )
    aws = terraform_copy / "environment" / "aws" / "main.tf"
    aws.write_text(aws.read_text().replace("  allowed_account_ids = [var.aws_account_id]\n", ""))
    # THEN each is named
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert (
        "provider google (environment/gcp/main.tf) lacks billing_project and user_project_override = true" in problems
    )
    assert "provider aws (environment/aws/main.tf) is not pinned to an account (allowed_account_ids)" in problems
    assert "provider google-beta (environment/gcp/main.tf) configures a provider no resource uses" in problems


def test_an_environment_is_its_files_not_a_copy_of_the_root(manifest, terraform_copy):
    # GIVEN a qa environment copied from staging and only half renamed (its values still say staging,
    # its AWS state would land in staging's), without its GCP backend file, a copy of a root under
    # environments/, and a prefix written into the one root's backend block
    environments = terraform_copy / "environments"
    (environments / "qa.gcp.tfvars").write_text((environments / "staging.gcp.tfvars").read_text())
    (environments / "qa.aws.tfvars").write_text(
        (environments / "staging.aws.tfvars").read_text().replace('"staging"', '"qa"')
    )
    (environments / "qa.aws.tfbackend").write_text((environments / "staging.aws.tfbackend").read_text())
    (environments / "qa").mkdir()
    shutil.copy(terraform_copy / "environment" / "gcp" / "main.tf", environments / "qa" / "main.tf")
    versions = terraform_copy / "environment" / "aws" / "versions.tf"
    versions.write_text(
        versions.read_text().replace('backend "gcs" {}', 'backend "gcs" {\n    prefix = "mlops-events/dev/aws"\n  }')
    )
    # THEN each is named, and the workflow's matrix lacks the new environment
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert "environments/qa.gcp.tfvars: env is 'staging', not 'qa'" in problems
    assert "environments/qa.gcp.tfvars has no qa.gcp.tfbackend (where its state lives)" in problems
    assert "environments/qa.aws.tfbackend: prefix is 'mlops-events/staging/aws', not 'mlops-events/qa/aws'" in problems
    assert "environments/ holds Terraform code (qa/main.tf): one root per side serves all" in problems
    assert any(p.startswith("environments/qa: not <env>.<gcp|aws>") for p in problems)
    assert 'environment/aws/versions.tf: not one empty backend "gcs" (the prefix is the environment\'s)' in problems
    assert any(p.startswith("terraform.yml plan: matrix env ['dev', 'staging', 'prod']") for p in problems)


def test_an_environment_with_one_side_only_is_reported(manifest, terraform_copy):
    (terraform_copy / "environments" / "prod.aws.tfvars").unlink()
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert "environment prod has no prod.aws.tfvars" in problems


def test_a_workflow_variable_no_bootstrap_output_gives_is_reported(manifest, terraform_copy):
    # GIVEN the GCP bootstrap no longer giving the image repository's name and the AWS one its role
    gcp = terraform_copy / "bootstrap" / "gcp" / "outputs.tf"
    gcp.write_text(gcp.read_text().replace("GCP_IMAGES_REPOSITORY", "IMAGES_REPOSITORY"))
    aws = terraform_copy / "bootstrap" / "aws" / "outputs.tf"
    aws.write_text(aws.read_text().replace("AWS_ROLE_ARN ", "ROLE_ARN "))
    # THEN the variables the workflows read and nothing gives are named
    problems = violations(REPO_ROOT, manifest, terraform_copy)
    assert (
        "deploy-containers.yml reads vars.GCP_IMAGES_REPOSITORY, which no bootstrap output"
        " (bootstrap/*/outputs.tf github_variables) gives" in problems
    )
    assert any(p.startswith("terraform.yml reads vars.AWS_ROLE_ARN, which no bootstrap output") for p in problems)
