variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks (with a route to ECR, Secrets Manager and CloudWatch Logs: NAT or VPC endpoints)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "domain_name" {
  description = "Name the service answers on, covered by certificate_arn (also the test listener's host)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name."
  type        = string
}

variable "access_logs_bucket" {
  description = "S3 bucket for the load balancer's access logs (its policy must allow the region's ELB account)."
  type        = string
}

variable "initial_image_digest" {
  description = "Digest (sha256:…) of an image already in the web repository, for the service's first revision."
  type        = string
}

variable "database_url_secret_arn" {
  description = "Secrets Manager secret the application reads as DATABASE_URL."
  type        = string
}

variable "slack_webhook_secret_arn" {
  description = "Secret holding the Slack incoming-webhook URL (null: approvals by signed email links only)."
  type        = string
  default     = null
}

variable "slack_signing_secret_arn" {
  description = "Secret holding the Slack app's signing secret."
  type        = string
  default     = null
}

variable "notification_emails" {
  description = "Who receives outcomes, rollbacks and approval links."
  type        = list(string)
  default     = []
}
