variable "env" {
  type        = string
  description = "The environment: the suffix of every name here (two environments may share an account)."
}

variable "lambdas" {
  type = map(object({
    lambda_function_name   = string
    dead_letter_queue_url  = string
    idempotency_table_name = string
  }))
  description = "Per manifest aws-lambda entry, what aws-platform deployed (its `ecr_rollout` output): the function, its on-failure queue, its idempotency table."
}

variable "alarm_email" {
  type        = string
  description = "Email address subscribed to the alarm topic (confirmed by its owner); null: none."
  default     = null
}

variable "budget" {
  type = object({
    amount          = number
    currency        = optional(string, "USD")
    email_addresses = optional(list(string), [])
  })
  description = "Monthly cost budget of the account: notifications at 80% and 100%, actual and forecasted, to the alarm topic (and these addresses); null: no budget."
  default     = null
}

variable "dead_letter_age_s" {
  type        = number
  description = "Age of the oldest on-failure record that pages (P0): the queue keeps them 14 days."
  default     = 864000
}

variable "runbook_base_url" {
  type        = string
  description = "Where docs/runbooks/ is browsable; each alarm's description links <this>/<alarm>.md."
  default     = "https://github.com/mlops-events/mlops-events/blob/main/docs/runbooks"
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource (the provider's default_tags add app and env)."
  default     = {}
}
