# terraform test of the AWS bootstrap: a first plan and a mocked apply for an account serving two
# environments. Asserts the trust each role rests on (this repository only; one GitHub environment,
# or main and v* tags, only), that plan roles read only, that apply roles act in the region and on
# mlops-events-* roles only and never touch a secret's value, and the outputs the workflows read.

mock_provider "aws" {
  source = "../../tests/mocks/aws"
}

variables {
  aws_account_id    = "111111111111"
  github_repository = "acme/mlops-events"
  environments      = ["dev", "staging"]
}

run "first_plan" {
  command = plan

  assert {
    condition     = toset(keys(aws_iam_role.terraform)) == toset(["dev", "dev-plan", "staging", "staging-plan"])
    error_message = "One apply and one plan role per environment."
  }
  assert {
    condition     = alltrue([for role in aws_iam_role.terraform : !startswith(role.name, "mlops-events-")])
    error_message = "The Terraform roles are outside the names the apply roles may manage."
  }
  assert {
    condition     = alltrue([for key, identity in local.identities : local.trust[key].Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:acme/mlops-events:environment:${key}"])
    error_message = "Each role is assumable by this repository's job in its own GitHub environment only."
  }
  assert {
    condition     = alltrue([for key, identity in local.identities : local.trust[key].Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com" && length(local.trust[key].Statement) == 1])
    error_message = "Tokens meant for STS only; one statement, no other way in."
  }
  assert {
    condition     = toset(keys(aws_iam_role_policy.apply)) == toset(["dev", "staging"]) && toset(keys(aws_iam_role_policy_attachment.plan)) == toset(["dev-plan", "staging-plan"])
    error_message = "Apply roles get the deploy policy, plan roles ReadOnlyAccess, never the other way round."
  }
  assert {
    condition     = alltrue([for attachment in aws_iam_role_policy_attachment.plan : attachment.policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess"])
    error_message = "Plan roles read only."
  }
  assert {
    condition     = local.apply_policy.Statement[0].Condition.StringEquals["aws:RequestedRegion"] == "eu-west-1"
    error_message = "The apply roles' service actions are limited to the environments' region."
  }
  assert {
    condition = alltrue([
      for statement in local.apply_policy.Statement : alltrue([
        for action in flatten([statement.Action]) : !contains(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:*", "iam:*", "*"], action)
      ])
    ])
    error_message = "No secret value is readable or writable by an apply role, and no IAM or global wildcard."
  }
  assert {
    condition = alltrue([
      for statement in local.apply_policy.Statement : statement.Resource == "arn:aws:iam::111111111111:role/mlops-events-*"
      if anytrue([for action in flatten([statement.Action]) : startswith(action, "iam:")])
    ])
    error_message = "IAM actions only on roles named mlops-events-* (the functions' roles)."
  }
  assert {
    condition     = toset(local.images_trust.Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"]) == toset(["repo:acme/mlops-events:ref:refs/heads/main", "repo:acme/mlops-events:ref:refs/tags/v*"])
    error_message = "The image role is assumable from main and v* tags only."
  }
  assert {
    condition     = toset(local.images_policy.Statement[1].Resource) == toset(["arn:aws:ecr:eu-west-1:111111111111:repository/ml/inference", "arn:aws:ecr:eu-west-1:111111111111:repository/ml/inference-lambda"])
    error_message = "The image role pushes to the two image repositories only."
  }
}

run "mocked_apply" {
  assert {
    condition     = aws_iam_openid_connect_provider.github[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.github[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "GitHub's issuer, for STS."
  }
  assert {
    condition     = jsondecode(aws_iam_role.terraform["dev-plan"].assume_role_policy).Statement[0].Principal.Federated == "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    error_message = "Trusted through the account's GitHub OIDC provider."
  }
  assert {
    condition     = keys(output.github_variables.repository) == ["AWS_IMAGES_ROLE_ARN", "AWS_REGION"] && toset(keys(output.github_variables.environments)) == toset(["dev", "dev-plan", "staging", "staging-plan"])
    error_message = "The variables terraform.yml and deploy-containers.yml read, per repository and per GitHub environment."
  }
  assert {
    condition     = alltrue([for env, values in output.github_variables.environments : values.AWS_ACCOUNT_ID == "111111111111" && values.AWS_ROLE_ARN == aws_iam_role.terraform[env].arn])
    error_message = "Each GitHub environment's AWS_ROLE_ARN is its own role."
  }
}

run "an_existing_oidc_provider_is_looked_up_and_no_image_role" {
  command = plan

  variables {
    create_oidc_provider = false
    images               = false
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.github) == 0 && length(data.aws_iam_openid_connect_provider.github) == 1 && length(aws_iam_role.images) == 0
    error_message = "create_oidc_provider = false reads the account's provider; images = false: no image role."
  }
}

run "another_account_is_refused" {
  command = plan

  variables {
    aws_account_id = "12345"
  }
  expect_failures = [var.aws_account_id]
}
