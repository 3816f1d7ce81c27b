# Run once per AWS account, by a person with administrator rights, before terraform.yml's AWS side
# or deploy-containers.yml can run: the GitHub OIDC provider and the roles the workflows assume, each
# trusted for this repository only, and for one GitHub environment (or main and v* tags) only. Its
# outputs are the values of the workflows' variables (output github_variables; README, Bootstrap).

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = { app = "mlops-events", part = "bootstrap" }
  }
}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  issuer    = "token.actions.githubusercontent.com"
  # The role names stay outside mlops-events-*, the names the apply roles may manage: an apply role
  # cannot rewrite itself or another apply role.
  identities = merge(
    { for env in var.environments : env => { kind = "apply", name = "github-terraform-apply-${env}", github_environment = env } },
    { for env in var.environments : "${env}-plan" => { kind = "plan", name = "github-terraform-plan-${env}", github_environment = "${env}-plan" } },
  )
  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS trusts GitHub's issuer through its own certificate authorities; the thumbprints (GitHub's
  # published ones) are for the older provider versions that require the argument.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.issuer}"
}

# Each Terraform role: this repository's job in its own GitHub environment, nothing else. The
# policies are JSON written here (not aws_iam_policy_document) so that the tests read them as AWS will.
locals {
  trust = {
    for key, identity in local.identities : key => {
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Action    = "sts:AssumeRoleWithWebIdentity"
        Principal = { Federated = local.oidc_provider_arn }
        Condition = {
          StringEquals = {
            "${local.issuer}:aud" = "sts.amazonaws.com"
            "${local.issuer}:sub" = "repo:${var.github_repository}:environment:${identity.github_environment}"
          }
        }
      }]
    }
  }
}

resource "aws_iam_role" "terraform" {
  for_each = local.identities

  name                 = each.value.name
  description          = "terraform.yml's ${each.value.kind} role in the GitHub environment ${each.value.github_environment} of ${var.github_repository}"
  assume_role_policy   = jsonencode(local.trust[each.key])
  max_session_duration = 3600
}

# Plans refresh every resource: read-only, everywhere (AWS's managed ReadOnlyAccess).
resource "aws_iam_role_policy_attachment" "plan" {
  for_each = { for key, identity in local.identities : key => identity if identity.kind == "plan" }

  role       = aws_iam_role.terraform[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

# -- the permissions boundary of every role the platform creates ----------------------------------
# The apply roles create the functions' roles (modules/aws-ecr-rollout: the rollout Lambda's). They may
# do so only with this boundary attached (apply_policy below), so no role they create, or write a
# policy on, can ever do more than the boundary allows, whatever its own policy says: no IAM, no
# administrator, whoever it trusts. What it allows is what the functions' code calls (the union of
# modules/aws-ecr-rollout/iam.tf's statements), on this environment's names, in its region:
#   logs     its log streams (/aws/lambda/<function>-<env>)
#   xray     trace segments (no resource-level permissions)
#   ssm      GetParameter on /mlops-events/* (the rollout targets)
#   secrets  GetSecretValue on mlops-events/<env>/* (kubeconfig, Slack webhook)
#   dynamodb the idempotency table's items (mlops-events-*)
#   sqs      SendMessage (the on-failure queue: its name is the manifest's dead_letter_topic)
#   kms      the account's keys in the region, only through DynamoDB, Secrets Manager, SQS and Lambda
#   ec2      the network interfaces of a Lambda in a VPC (var.vpc_config)
# Roles passed to Lambda only (PassTheFunctionsRolesToLambda). One boundary per environment:
# mlops-events-<env>-boundary, the name terraform/environment/aws derives its ARN from.
locals {
  account_arn = "${local.partition}:%s:${var.aws_region}:${var.aws_account_id}"
  boundary_arns = {
    for env in var.environments : env => "arn:${local.partition}:iam::${var.aws_account_id}:policy/mlops-events-${env}-boundary"
  }
  boundary = {
    for env in var.environments : env => {
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = "Logs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "arn:${format(local.account_arn, "logs")}:log-group:/aws/lambda/*-${env}:*"
        },
        {
          Sid      = "Tracing"
          Effect   = "Allow"
          Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
          Resource = "*"
        },
        {
          Sid      = "Parameters"
          Effect   = "Allow"
          Action   = "ssm:GetParameter"
          Resource = "arn:${format(local.account_arn, "ssm")}:parameter/mlops-events/*"
        },
        {
          Sid      = "Secrets"
          Effect   = "Allow"
          Action   = "secretsmanager:GetSecretValue"
          Resource = "arn:${format(local.account_arn, "secretsmanager")}:secret:mlops-events/${env}/*"
        },
        {
          Sid      = "Idempotency"
          Effect   = "Allow"
          Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
          Resource = "arn:${format(local.account_arn, "dynamodb")}:table/mlops-events-*"
        },
        {
          Sid      = "DeadLetters"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = "arn:${format(local.account_arn, "sqs")}:*"
        },
        {
          Sid      = "Keys"
          Effect   = "Allow"
          Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
          Resource = "arn:${format(local.account_arn, "kms")}:key/*"
          Condition = {
            StringEquals = { "kms:ViaService" = [for service in ["dynamodb", "secretsmanager", "sqs", "lambda"] : "${service}.${var.aws_region}.amazonaws.com"] }
          }
        },
        {
          Sid    = "VpcNetworkInterfaces"
          Effect = "Allow"
          Action = [
            "ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
            "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:UnassignPrivateIpAddresses",
          ]
          Resource  = "*"
          Condition = { StringEquals = { "aws:RequestedRegion" = var.aws_region } }
        },
      ]
    }
  }
}

resource "aws_iam_policy" "boundary" {
  # checkov:skip=CKV_AWS_290:A permissions boundary, attached to no principal: it grants nothing, it caps the functions' roles; the write actions are the functions' own (logs, DynamoDB items, SQS sends, ENIs of a Lambda in a VPC), on their names where the service has resource-level permissions.
  # checkov:skip=CKV_AWS_355:A permissions boundary grants nothing; "*" only for X-Ray's segments and the ENI actions of a Lambda in a VPC, which have no resource-level permissions.
  # checkov:skip=CKV_AWS_289:A permissions boundary grants nothing; it has no permissions-management or IAM action at all.
  for_each = local.boundary

  name        = "mlops-events-${each.key}-boundary"
  description = "Permissions boundary of every role the ${each.key} apply role creates: at most what the functions' code calls, on ${each.key}'s names."
  policy      = jsonencode(each.value)
}

# Applies create what terraform/environment/aws declares (modules/aws-ecr-rollout: the Lambda, its
# EventBridge rule, DynamoDB table, SQS queue, SSM parameter, Secrets Manager secrets without values,
# ECR repositories, KMS key, log group, S3 bundle object; modules/aws-monitoring: its KMS key, SNS
# topic, alarms and budget) in the environments' region; IAM only on the environment's own roles,
# mlops-events-*-<env>, and only with the environment's permissions boundary (README, Bootstrap: what
# the role can still read).
locals {
  # Read-only IAM calls Terraform refreshes the roles with.
  iam_reads = [
    "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
    "iam:ListRolePolicies",
  ]
  # Every IAM write on a role: allowed only where the role carries (or, CreateRole and
  # PutRolePermissionsBoundary, is given) this environment's boundary. No AttachRolePolicy: the
  # modules write inline policies only, so no managed policy (AdministratorAccess...) can be attached.
  # No UpdateAssumeRolePolicy: a role's trust (lambda.amazonaws.com, this account) is set at creation
  # and never changed by the modules; a change to it is a replacement, or an administrator's.
  iam_bounded_writes = [
    "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
  ]
  # The environment's own functions' roles: modules/aws-ecr-rollout names them
  # mlops-events-<function>-<env> (the function's name ends in the environment, as its log group
  # does: the boundary's Logs statement). Not mlops-events-*: that matches every environment's roles,
  # and dev's apply role could pass prod's role to a Lambda of its own (running with prod's
  # secrets), tag it, or put dev's boundary on it (PutRolePermissionsBoundary checks the new
  # boundary) and then rewrite its policy. var.environments refuses names that end in "-<another>",
  # so no environment's pattern matches another's roles.
  functions_roles = {
    for env in var.environments : env => "arn:${local.partition}:iam::${var.aws_account_id}:role/mlops-events-*-${env}"
  }

  apply_policy = {
    for env in var.environments : env => {
      Version = "2012-10-17"
      Statement = [
        {
          Sid    = "DeployInRegion"
          Effect = "Allow"
          Action = [
            "cloudwatch:*",
            "dynamodb:*",
            "ecr:*",
            "events:*",
            "kms:CreateAlias", "kms:CreateGrant", "kms:CreateKey", "kms:DeleteAlias", "kms:DescribeKey",
            "kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
            "kms:ListAliases", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource",
            "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
            "lambda:*",
            "logs:*",
            "s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging", "s3:ListBucket", "s3:PutObject", "s3:PutObjectTagging",
            "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
            "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecrets", "secretsmanager:TagResource",
            "secretsmanager:UntagResource", "secretsmanager:UpdateSecret",
            "sns:*",
            "sqs:*",
            "ssm:DescribeParameters",
          ]
          Resource  = "*"
          Condition = { StringEquals = { "aws:RequestedRegion" = var.aws_region } }
        },
        {
          # Decrypt only through the services whose resources Terraform reads back encrypted with the
          # modules' keys (Lambda's environment variables, the table, the queue, the bundle object,
          # the repositories, the log group): never through SSM or Secrets Manager, so no
          # SecureString parameter and no secret value is decrypted with it.
          Sid      = "DecryptThroughTheDeployedServices"
          Effect   = "Allow"
          Action   = "kms:Decrypt"
          Resource = "arn:${format(local.account_arn, "kms")}:key/*"
          Condition = {
            StringEquals = { "kms:ViaService" = [for service in ["lambda", "dynamodb", "sqs", "s3", "ecr", "logs"] : "${service}.${var.aws_region}.amazonaws.com"] }
          }
        },
        {
          # The platform's parameters only (/mlops-events/...): a SecureString elsewhere, even under
          # the AWS managed key aws/ssm (whose key policy lets any principal of the account decrypt
          # through SSM), is not readable.
          Sid    = "ThePlatformsParameters"
          Effect = "Allow"
          Action = [
            "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameters",
            "ssm:ListTagsForResource", "ssm:PutParameter", "ssm:RemoveTagsFromResource",
          ]
          Resource = "arn:${format(local.account_arn, "ssm")}:parameter/mlops-events/*"
        },
        {
          # The account's monthly budget (modules/aws-monitoring): Budgets is global (us-east-1), and
          # budget names carry the platform's.
          Sid    = "TheBudget"
          Effect = "Allow"
          Action = [
            "budgets:ListTagsForResource", "budgets:ModifyBudget", "budgets:TagResource", "budgets:UntagResource",
            "budgets:ViewBudget",
          ]
          Resource = "arn:${local.partition}:budgets::${var.aws_account_id}:budget/mlops-events-*"
        },
        {
          Sid      = "ReadTheFunctionsRoles"
          Effect   = "Allow"
          Action   = local.iam_reads
          Resource = local.functions_roles[env]
        },
        {
          Sid      = "TheFunctionsRolesUnderTheBoundary"
          Effect   = "Allow"
          Action   = local.iam_bounded_writes
          Resource = local.functions_roles[env]
          Condition = {
            StringEquals = { "iam:PermissionsBoundary" = local.boundary_arns[env] }
          }
        },
        {
          # Tags are not permissions (no policy here reads aws:ResourceTag on IAM).
          Sid      = "TagTheFunctionsRoles"
          Effect   = "Allow"
          Action   = ["iam:TagRole", "iam:UntagRole"]
          Resource = local.functions_roles[env]
        },
        {
          Sid       = "PassTheFunctionsRolesToLambda"
          Effect    = "Allow"
          Action    = "iam:PassRole"
          Resource  = local.functions_roles[env]
          Condition = { StringEquals = { "iam:PassedToService" = "lambda.amazonaws.com" } }
        },
        {
          # The boundary stays: never removed from a role, never rewritten or deleted by the roles it bounds.
          Sid    = "KeepTheBoundary"
          Effect = "Deny"
          Action = [
            "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
            "iam:DeleteRolePermissionsBoundary", "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy",
          ]
          Resource = "*"
        },
      ]
    }
  }
}

resource "aws_iam_role_policy" "apply" {
  # Broad by design, and why: the environment's names follow the manifest (a new Lambda brings new
  # names); KMS key creation, ECR's token and the Describe/List calls have no resource-level
  # permissions. Hence service actions on "*" but only in the environments' region, kms:Decrypt only
  # through the deployed services, SSM only on /mlops-events/*, IAM writes only on the environment's
  # mlops-events-*-<env> roles that carry its permissions boundary, PassRole (to Lambda) only on those, no
  # Secrets Manager value read or written, and the role assumable from one protected GitHub
  # environment. checkov does not evaluate this jsonencode()d policy; tests/bootstrap.tftest.hcl
  # asserts these limits.
  for_each = { for key, identity in local.identities : key => identity if identity.kind == "apply" }

  name   = "deploy-the-environment"
  role   = aws_iam_role.terraform[each.key].id
  policy = jsonencode(local.apply_policy[each.key])
}

# -- images: the role deploy-containers.yml pushes to ECR with -------------------------------------

locals {
  images_trust = {
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = local.oidc_provider_arn }
      Condition = {
        StringEquals = { "${local.issuer}:aud" = "sts.amazonaws.com" }
        # main and v* tags only: a manual run from another branch cannot push.
        StringLike = { "${local.issuer}:sub" = ["repo:${var.github_repository}:ref:refs/heads/main", "repo:${var.github_repository}:ref:refs/tags/v*"] }
      }
    }]
  }
  images_policy = {
    Version = "2012-10-17"
    Statement = [
      # No resource-level permission exists for the registry login.
      { Sid = "Login", Effect = "Allow", Action = "ecr:GetAuthorizationToken", Resource = "*" },
      {
        Sid    = "PushTheImages"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:DescribeImages",
          "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
        ]
        Resource = [for repository in var.image_repositories : "arn:${local.partition}:ecr:${var.aws_region}:${var.aws_account_id}:repository/${repository}"]
      },
    ]
  }
}

resource "aws_iam_role" "images" {
  count = var.images ? 1 : 0

  name                 = "github-image-publisher"
  description          = "deploy-containers.yml's ECR push, from ${var.github_repository}'s main branch and v* tags"
  assume_role_policy   = jsonencode(local.images_trust)
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "images" {
  count = var.images ? 1 : 0

  name   = "push-the-images"
  role   = aws_iam_role.images[0].id
  policy = jsonencode(local.images_policy)
}
