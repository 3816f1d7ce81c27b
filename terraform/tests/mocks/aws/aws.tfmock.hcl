# Computed values the mocked provider returns where a test reads them (terraform test, mock_provider
# "aws" { source = ".../tests/mocks/aws" }): the shapes the real provider returns. Anything not set
# here is made up by Terraform (random strings), which is enough where only distinctness matters.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "111111111111"
    arn        = "arn:aws:iam::111111111111:user/ci"
    user_id    = "AIDAEXAMPLEUSERID0001"
  }
}
mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}
mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}
mock_resource "aws_kms_key" {
  defaults = {
    arn    = "arn:aws:kms:eu-west-1:111111111111:key/0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
    key_id = "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
  }
}
mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::111111111111:role/mlops-events-ecr-rollout"
  }
}
mock_resource "aws_lambda_function" {
  defaults = {
    arn        = "arn:aws:lambda:eu-west-1:111111111111:function:ecr-rollout"
    invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:111111111111:function:ecr-rollout/invocations"
    version    = "$LATEST"
  }
}
mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:111111111111:ecr-rollout-dead-letter"
    url = "https://sqs.eu-west-1.amazonaws.com/111111111111/ecr-rollout-dead-letter"
  }
}
mock_resource "aws_dynamodb_table" {
  defaults = {
    arn = "arn:aws:dynamodb:eu-west-1:111111111111:table/mlops-events-idempotency"
  }
}
mock_resource "aws_ssm_parameter" {
  defaults = {
    arn = "arn:aws:ssm:eu-west-1:111111111111:parameter/mlops-events/rollout-targets"
  }
}
mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mlops-events/rollout-kubeconfig-AbCdEf"
  }
}
mock_resource "aws_cloudwatch_event_rule" {
  defaults = {
    arn = "arn:aws:events:eu-west-1:111111111111:rule/ecr-rollout"
  }
}
mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-west-1:111111111111:repository/ml/inference"
    registry_id    = "111111111111"
    repository_url = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/ml/inference"
  }
}
# The bootstrap root (bootstrap/aws).
mock_resource "aws_iam_openid_connect_provider" {
  defaults = {
    arn = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
  }
}
mock_data "aws_iam_openid_connect_provider" {
  defaults = {
    arn = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
  }
}
