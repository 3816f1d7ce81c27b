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
  # cannot rewrite itself or another environment's.
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

# Applies create what terraform/environment/aws declares (modules/aws-ecr-rollout: the Lambda, its
# EventBridge rule, DynamoDB table, SQS queue, SSM parameter, Secrets Manager secrets without values,
# ECR repositories, KMS key, log group, S3 bundle object) in the environments' region; IAM only on
# roles named mlops-events-*. No secret value is readable or writable (values are put out of band).
locals {
  apply_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "DeployInRegion"
        Effect = "Allow"
        Action = [
          "dynamodb:*",
          "ecr:*",
          "events:*",
          "kms:CreateAlias", "kms:CreateGrant", "kms:CreateKey", "kms:Decrypt", "kms:DeleteAlias", "kms:DescribeKey",
          "kms:EnableKeyRotation", "kms:Encrypt", "kms:GenerateDataKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
          "kms:ListAliases", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:TagResource",
          "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
          "lambda:*",
          "logs:*",
          "s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging", "s3:ListBucket", "s3:PutObject", "s3:PutObjectTagging",
          "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
          "secretsmanager:GetResourcePolicy", "secretsmanager:ListSecrets", "secretsmanager:TagResource",
          "secretsmanager:UntagResource", "secretsmanager:UpdateSecret",
          "sqs:*",
          "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:DescribeParameters", "ssm:GetParameter",
          "ssm:GetParameters", "ssm:ListTagsForResource", "ssm:PutParameter", "ssm:RemoveTagsFromResource",
        ]
        Resource  = "*"
        Condition = { StringEquals = { "aws:RequestedRegion" = var.aws_region } }
      },
      {
        Sid    = "TheFunctionsRoles"
        Effect = "Allow"
        Action = [
          "iam:AttachRolePolicy", "iam:CreateRole", "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
          "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
          "iam:ListRolePolicies", "iam:PutRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:UpdateAssumeRolePolicy",
          "iam:UpdateRole",
        ]
        Resource = "arn:${local.partition}:iam::${var.aws_account_id}:role/mlops-events-*"
      },
      {
        Sid       = "PassTheFunctionsRolesToLambda"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = "arn:${local.partition}:iam::${var.aws_account_id}:role/mlops-events-*"
        Condition = { StringEquals = { "iam:PassedToService" = "lambda.amazonaws.com" } }
      },
    ]
  }
}

resource "aws_iam_role_policy" "apply" {
  # Broad by design, and why: the environment's names follow the manifest (a new Lambda brings new
  # names); KMS key creation, ECR's token and the Describe/List calls have no resource-level
  # permissions. Hence service actions on "*" but only in the environments' region, IAM writes and
  # PassRole (to Lambda) only on mlops-events-* roles, no Secrets Manager value read or written, and
  # the role assumable from one protected GitHub environment. checkov does not evaluate this
  # jsonencode()d policy; tests/bootstrap.tftest.hcl asserts these limits.
  for_each = { for key, identity in local.identities : key => identity if identity.kind == "apply" }

  name   = "deploy-the-environment"
  role   = aws_iam_role.terraform[each.key].id
  policy = jsonencode(local.apply_policy)
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
