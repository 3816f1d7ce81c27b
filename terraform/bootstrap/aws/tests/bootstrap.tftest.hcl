# terraform test of the AWS bootstrap: a first plan and a mocked apply for an account serving two
# environments. Asserts the trust each role rests on (this repository only; one GitHub environment,
# or main and v* tags, only), that plan roles read only, that apply roles act in the region and on
# their own environment's mlops-events-*-<env> roles only (never another environment's), under the
# environment's permissions boundary, never decrypt through
# SSM or Secrets Manager nor touch a secret's value, and the outputs the workflows read.

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
    condition     = alltrue([for env in ["dev", "staging"] : local.apply_policy[env].Statement[0].Condition.StringEquals["aws:RequestedRegion"] == "eu-west-1"])
    error_message = "The apply roles' service actions are limited to the environments' region."
  }
  assert {
    condition = alltrue([
      for statement in flatten(values(local.apply_policy)[*].Statement) : alltrue([
        for action in flatten([statement.Action]) : !contains(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:*", "iam:*", "*"], action)
      ]) if statement.Effect == "Allow"
    ])
    error_message = "No secret value is readable or writable by an apply role, and no IAM or global wildcard."
  }
  assert {
    condition = alltrue(flatten([
      for env in ["dev", "staging"] : [
        for statement in local.apply_policy[env].Statement : statement.Resource == "arn:aws:iam::111111111111:role/mlops-events-*-${env}"
        if statement.Effect == "Allow" && anytrue([for action in flatten([statement.Action]) : startswith(action, "iam:")])
      ]
    ]))
    error_message = "IAM actions only on the environment's own functions' roles, mlops-events-*-<env>."
  }
  # The escalation the permissions boundary closes: no role the apply role creates or writes a policy
  # on can exceed mlops-events-<env>-boundary, no managed policy (AdministratorAccess) is attachable,
  # no trust rewritten, and the boundary can be neither removed nor changed.
  assert {
    condition = alltrue(flatten([
      for env in ["dev", "staging"] : [
        for statement in local.apply_policy[env].Statement : statement.Condition.StringEquals["iam:PermissionsBoundary"] == "arn:aws:iam::111111111111:policy/mlops-events-${env}-boundary"
        if statement.Effect == "Allow" && length(setintersection(flatten([statement.Action]), ["iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:UpdateRole", "iam:DeleteRole"])) > 0
      ]
    ]))
    error_message = "Every IAM write on a role requires the environment's own permissions boundary (iam:PermissionsBoundary)."
  }
  assert {
    condition = alltrue([
      for env in ["dev", "staging"] : length([
        for statement in local.apply_policy[env].Statement : statement
        if statement.Effect == "Allow" && contains(flatten([statement.Action]), "iam:CreateRole") && contains(flatten([statement.Action]), "iam:PutRolePolicy") && contains(flatten([statement.Action]), "iam:PutRolePermissionsBoundary")
      ]) == 1
    ])
    error_message = "CreateRole, PutRolePolicy and PutRolePermissionsBoundary are granted, in the bounded statement only."
  }
  assert {
    condition = alltrue([
      for statement in flatten(values(local.apply_policy)[*].Statement) : length(setintersection(flatten([statement.Action]), ["iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeleteRolePermissionsBoundary"])) == 0
      if statement.Effect == "Allow"
    ])
    error_message = "No AttachRolePolicy (the modules attach no managed policy), no trust rewrite, no policy version, no boundary removal."
  }
  assert {
    condition = alltrue([
      for env in ["dev", "staging"] : anytrue([
        for statement in local.apply_policy[env].Statement : statement.Effect == "Deny" && statement.Resource == "*" && length(setintersection(flatten([statement.Action]), ["iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion"])) == 5
      ])
    ])
    error_message = "The boundary's removal and any change to a managed policy (the boundary included) are denied explicitly."
  }
  assert {
    condition = alltrue([
      for statement in flatten(values(local.apply_policy)[*].Statement) : try(toset(statement.Condition.StringEquals["kms:ViaService"]), null) == toset([for service in ["lambda", "dynamodb", "sqs", "s3", "ecr", "logs"] : "${service}.eu-west-1.amazonaws.com"])
      if statement.Effect == "Allow" && contains(flatten([statement.Action]), "kms:Decrypt")
    ])
    error_message = "kms:Decrypt only through the deployed services, never SSM or Secrets Manager (no SecureString, no secret value)."
  }
  assert {
    condition = alltrue([
      for statement in flatten(values(local.apply_policy)[*].Statement) : statement.Resource == "arn:aws:ssm:eu-west-1:111111111111:parameter/mlops-events/*"
      if statement.Effect == "Allow" && length(setintersection(flatten([statement.Action]), ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:*"])) > 0
    ])
    error_message = "Parameters are read on the platform's path only (a SecureString under aws/ssm elsewhere stays unreadable)."
  }
  assert {
    condition     = toset(keys(aws_iam_policy.boundary)) == toset(["dev", "staging"]) && aws_iam_policy.boundary["dev"].name == "mlops-events-dev-boundary"
    error_message = "One permissions boundary per environment, named mlops-events-<env>-boundary (environment/aws derives its ARN)."
  }
  assert {
    condition = alltrue([
      for env, boundary in local.boundary : alltrue([
        for statement in boundary.Statement : statement.Effect == "Allow" && alltrue([
          for action in flatten([statement.Action]) : contains(["logs", "xray", "ssm", "secretsmanager", "dynamodb", "sqs", "kms", "ec2"], split(":", action)[0]) && !endswith(action, "*")
        ])
      ])
    ])
    error_message = "The boundary allows only the functions' own calls: no IAM, no wildcard action."
  }
  assert {
    condition     = [for statement in local.boundary["staging"].Statement : statement.Resource if statement.Sid == "Secrets"] == ["arn:aws:secretsmanager:eu-west-1:111111111111:secret:mlops-events/staging/*"]
    error_message = "A role under an environment's boundary reads that environment's secrets only."
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

# One account, dev and prod: dev's apply role must not write, tag or pass prod's roles (passing prod's
# role to a Lambda of its own would run code with prod's rights). The roles' names are the ones
# modules/aws-ecr-rollout gives (mlops-events-<function>-<env>); an IAM ARN pattern is matched as AWS
# does (* any characters, ? one).
run "dev_cannot_touch_prods_roles" {
  command = plan

  variables {
    environments = ["dev", "prod"]
  }

  assert {
    condition = alltrue(flatten([
      for statement in local.apply_policy["dev"].Statement : [
        for pattern in flatten([statement.Resource]) : !can(regex("^${replace(replace(replace(pattern, ".", "\\."), "*", ".*"), "?", ".")}$", "arn:aws:iam::111111111111:role/mlops-events-ecr-rollout-prod"))
      ]
      if statement.Effect == "Allow" && anytrue([for action in flatten([statement.Action]) : startswith(action, "iam:")])
    ]))
    error_message = "No IAM action of dev's apply role (reads, writes, tags, PassRole) reaches prod's role mlops-events-ecr-rollout-prod."
  }
  assert {
    condition = alltrue([
      for sid in ["ReadTheFunctionsRoles", "TheFunctionsRolesUnderTheBoundary", "TagTheFunctionsRoles", "PassTheFunctionsRolesToLambda"] : anytrue([
        for statement in local.apply_policy["dev"].Statement : statement.Sid == sid && can(regex("^${replace(replace(replace(statement.Resource, ".", "\\."), "*", ".*"), "?", ".")}$", "arn:aws:iam::111111111111:role/mlops-events-ecr-rollout-dev"))
      ])
    ])
    error_message = "dev's apply role still reads, writes, tags and passes dev's own role (mlops-events-ecr-rollout-dev)."
  }
  assert {
    condition = alltrue([
      for statement in local.apply_policy["dev"].Statement : statement.Resource == "arn:aws:iam::111111111111:role/mlops-events-*-dev" && try(statement.Condition.StringEquals["iam:PassedToService"], null) == "lambda.amazonaws.com"
      if statement.Effect == "Allow" && contains(flatten([statement.Action]), "iam:PassRole")
    ])
    error_message = "PassRole only on dev's roles, and to Lambda only."
  }
}

# "pre-dev" beside "dev": pre-dev's roles (mlops-events-*-pre-dev) would match dev's pattern.
run "an_environment_named_like_another_with_a_prefix_is_refused" {
  command = plan

  variables {
    environments = ["dev", "pre-dev"]
  }

  expect_failures = [var.environments]
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
    condition     = output.permissions_boundaries == { for env in ["dev", "staging"] : env => aws_iam_policy.boundary[env].arn }
    error_message = "The boundaries' ARNs are an output."
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
