# The staging environment, AWS side (terraform/environment/aws). Placeholders: no secrets and no real ids
# belong here (CI gives the real account with -var aws_account_id=...). Secret values are put with
# `aws secretsmanager put-secret-value` after the first apply (outputs: ecr_rollout).
env            = "staging"
aws_account_id = "000000000000"
aws_region     = "eu-west-1"

# The permissions boundary terraform/bootstrap/aws made for this environment (its output
# permissions_boundaries["staging"] is arn:aws:iam::<account>:policy/<this name>): every role created here
# carries it, and the apply role may create roles only with it.
permissions_boundary_policy = "mlops-events-staging-boundary"

# Where this environment shares dev's account, dev creates the repositories:
# create_repositories = false

# Alarms and budget (terraform/modules/aws-monitoring): to an encrypted SNS topic, mailed here.
alarm_email = "mlops-oncall-staging@example.com"
