variable "project_id" {
  type        = string
  description = "Project holding the alert topic (and the budget's scope)."
}

variable "billing_account" {
  type        = string
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) the budget is on."
}

variable "display_name" {
  type        = string
  description = "Budget name shown in Cloud Billing and carried in every notification (budgetDisplayName)."
}

variable "amount" {
  type        = number
  description = "Budget amount per calendar month, in currency_code units."
}

variable "currency_code" {
  type        = string
  description = "Currency of the amount; must be the billing account's currency."
  default     = "USD"
}

variable "current_spend_thresholds" {
  type        = list(number)
  description = "Shares of the budget whose crossing by actual spend is notified (budget_alert posts once per newly crossed threshold)."
  default     = [0.5, 0.9, 1.0]
}

variable "forecasted_spend_thresholds" {
  type        = list(number)
  description = "Shares of the budget whose crossing by forecasted spend is notified."
  default     = [1.0]
}

variable "topic_name" {
  type        = string
  description = "Topic the budget publishes every update to (the manifest's budget_alert trigger.topic)."
}

variable "scope_projects" {
  type        = list(string)
  description = "Projects (projects/NUMBER) the budget counts; empty counts the whole billing account."
  default     = []
}

variable "kms_key_name" {
  type        = string
  description = "Optional CMEK for the topic; null uses Google-managed keys."
  default     = null
}
